// The one place that looks at which database the URL names: it picks Kysely's dialect (with its
// driver's pool) and the matching troutbox dialect. Everything else in the example is the same
// code on PostgreSQL and on MySQL / MariaDB.
import type { OutboxDialectName } from '@troutbox/kysely';
import { type Dialect, MysqlDialect, PostgresDialect } from 'kysely';
import { createPool } from 'mysql2';
import pg from 'pg';

/** A database URL resolved into what Kysely and troutbox each need to know about it. */
export interface DatabaseTarget {
  /** Kysely's dialect, with a pool of `connections` connections. */
  readonly kysely: Dialect;
  /** troutbox's name for the same database, for `kyselyOutbox({ dialect })`. */
  readonly outbox: OutboxDialectName;
  /** For the log: the server and the driver. */
  readonly label: string;
}

/**
 * Resolve a `postgres://` / `postgresql://` URL (node-postgres) or a `mysql://` / `mariadb://` URL
 * (mysql2, for MySQL 8.0+ or MariaDB 10.6+).
 */
export function databaseTarget(databaseUrl: string, connections = 4): DatabaseTarget {
  const url = new URL(databaseUrl);
  switch (url.protocol) {
    case 'postgres:':
    case 'postgresql:': {
      const pool = new pg.Pool({ connectionString: databaseUrl, max: connections });
      // An idle client whose server connection ends emits 'error'; unheard, it would end the process.
      pool.on('error', () => {});
      return {
        kysely: new PostgresDialect({ pool }),
        outbox: 'postgres',
        label: `PostgreSQL at ${url.host}`,
      };
    }
    case 'mysql:':
    case 'mariadb:':
      return {
        // mysql2 reads host, port, user, password and database from the URL whatever its scheme.
        kysely: new MysqlDialect({ pool: createPool({ uri: databaseUrl, connectionLimit: connections }) }),
        outbox: 'mysql',
        label: `MySQL/MariaDB at ${url.host}`,
      };
    default:
      throw new Error(
        `DATABASE_URL must start with postgres://, postgresql://, mysql:// or mariadb://, got ${url.protocol}//…`,
      );
  }
}
