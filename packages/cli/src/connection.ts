import {
  type Dialect,
  isOutboxError,
  type Mysql2PoolLike,
  mysql,
  mysql2Pool,
  type PartitionOptions,
  pgPool,
  postgres,
  SqlMessageStore,
} from '@troutbox/core';
import mysqlDriver from 'mysql2/promise';
import pg from 'pg';
import { CliError } from './cli-error.js';
import { type AdminQueries, mysqlAdminQueries, postgresAdminQueries } from './queries.js';

/** The database systems the CLI speaks, chosen by the URL's protocol. */
export type DatabaseSystem = 'postgres' | 'mysql';

/** A parsed `--url` / `DATABASE_URL`. */
export interface DatabaseTarget {
  readonly system: DatabaseSystem;
  /** The URL as given (passed to the driver). */
  readonly url: string;
  /** The URL with its password replaced by `***`, for messages. */
  readonly display: string;
  /** The database named in the URL's path, or null. */
  readonly database: string | null;
}

const PROTOCOLS: Record<string, DatabaseSystem> = {
  'postgres:': 'postgres',
  'postgresql:': 'postgres',
  'mysql:': 'mysql',
  'mariadb:': 'mysql',
};

/**
 * Read a database URL: `postgres://` or `postgresql://` for PostgreSQL, `mysql://` or
 * `mariadb://` for MySQL and MariaDB.
 *
 * @example
 * ```ts
 * parseDatabaseUrl('mariadb://app:pw@db:3306/shop');
 * // { system: 'mysql', database: 'shop', display: 'mariadb://app:***@db:3306/shop', url: … }
 * ```
 * @throws CliError `BAD_URL` when it is missing, unparseable or of another protocol
 */
export function parseDatabaseUrl(text: string | undefined): DatabaseTarget {
  if (text === undefined || text.trim() === '') {
    throw new CliError('BAD_URL', 'no database URL: pass --url or set DATABASE_URL', {
      hint: 'for example --url postgres://user@localhost:5432/app',
    });
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch (cause) {
    // Never echo the text: it may hold a password.
    throw new CliError('BAD_URL', 'the database URL is not a valid URL', {
      cause,
      hint: 'expected postgres://user:password@host:5432/database or mysql://user@host:3306/database',
    });
  }
  const system = PROTOCOLS[url.protocol];
  if (!system) {
    throw new CliError(
      'BAD_URL',
      `unsupported database URL protocol ${JSON.stringify(url.protocol)}: use postgres://, postgresql://, mysql:// or mariadb://`,
    );
  }
  if (!url.hostname && !url.searchParams.has('host') && !url.searchParams.has('socketPath')) {
    throw new CliError('BAD_URL', 'the database URL has no host');
  }
  const shown = new URL(url.href);
  if (shown.password) shown.password = '***';
  let database: string | null = null;
  try {
    database = decodeURIComponent(url.pathname.replace(/^\//, '')) || null;
  } catch (cause) {
    throw new CliError('BAD_URL', 'the database name in the URL is not valid percent-encoding', { cause });
  }
  return { system, url: text, display: shown.href, database };
}

/** Which outbox table to open. */
export interface TableOptions {
  /** PostgreSQL schema, or MySQL database. Default: `public`, or the URL's database on MySQL. */
  schema?: string | undefined;
  /** @defaultValue `outbox_messages` */
  table?: string | undefined;
  /** Rows per statement of a bulk requeue or purge. @defaultValue 5000 (core's) */
  adminBatchSize?: number | undefined;
  /** Open the table in partitioned mode (what `migrate --partitioned` creates; PostgreSQL only). */
  partitioned?: PartitionOptions | undefined;
}

/** An open connection to one outbox table. */
export interface OutboxConnection {
  readonly target: DatabaseTarget;
  readonly dialect: Dialect;
  readonly store: SqlMessageStore;
  /** The one query core does not offer: rows locked by relays right now (see queries.ts). */
  readonly admin: AdminQueries;
  /** Schema (PostgreSQL) or database (MySQL) and bare table name. */
  readonly schema: string;
  readonly table: string;
  /** Fail with `TABLE_MISSING` unless the outbox table exists. */
  requireTable(): Promise<void>;
  close(): Promise<void>;
}

const CONNECT_TIMEOUT_MS = 10_000;

function dialectFor(target: DatabaseTarget, options: TableOptions): { dialect: Dialect; schema: string } {
  const table = options.table;
  try {
    if (target.system === 'postgres') {
      const schema = options.schema ?? 'public';
      const partitioned = options.partitioned ? { partitioned: options.partitioned } : {};
      return {
        dialect: postgres({ schema, ...(table !== undefined ? { table } : {}), ...partitioned }),
        schema,
      };
    }
    if (options.partitioned) {
      throw new CliError(
        'USAGE',
        'partitioned tables are a PostgreSQL feature: MySQL and MariaDB tables are plain',
        {
          hint: 'run troutbox migrate without --partitioned, and prune sent messages on a schedule',
        },
      );
    }
    const database = options.schema ?? target.database;
    if (database === null) {
      throw new CliError('BAD_URL', 'the MySQL URL names no database', {
        hint: 'add one (mysql://user@host:3306/app) or pass --schema <database>',
      });
    }
    return { dialect: mysql({ database, ...(table !== undefined ? { table } : {}) }), schema: database };
  } catch (error) {
    if (isOutboxError(error, 'INVALID_IDENTIFIER') || isOutboxError(error, 'INVALID_OPTION'))
      throw new CliError('USAGE', error.message);
    throw error;
  }
}

/**
 * Open a pool on the URL, check that it connects, and build the store for the table.
 * @throws CliError `USAGE` for a bad schema or table name, `BAD_URL`, `CONNECTION_FAILED`
 */
export async function openOutbox(target: DatabaseTarget, options: TableOptions): Promise<OutboxConnection> {
  const { dialect, schema } = dialectFor(target, options);
  const table = options.table ?? 'outbox_messages';
  let db: SqlMessageStore['db'];
  let end: () => Promise<void>;
  let admin: AdminQueries;
  try {
    if (target.system === 'postgres') {
      const pool = new pg.Pool({
        connectionString: target.url,
        max: 2,
        connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
        application_name: 'troutbox-cli',
      });
      db = pgPool(pool);
      end = () => pool.end();
      admin = postgresAdminQueries(db, dialect.tableName);
    } else {
      const pool = mysqlDriver.createPool({
        uri: target.url,
        connectionLimit: 2,
        connectTimeout: CONNECT_TIMEOUT_MS,
      });
      db = mysql2Pool(pool as unknown as Mysql2PoolLike);
      end = () => pool.end();
      admin = mysqlAdminQueries(db, dialect.tableName, schema, table);
    }
  } catch (cause) {
    throw new CliError('BAD_URL', `the database URL ${target.display} cannot be used: ${describe(cause)}`, {
      cause,
    });
  }
  try {
    await db.query('SELECT 1');
  } catch (cause) {
    await end().catch(() => {});
    throw new CliError('CONNECTION_FAILED', `could not connect to ${target.display}: ${describe(cause)}`, {
      cause,
    });
  }
  const store = new SqlMessageStore({
    dialect,
    db,
    ...(options.adminBatchSize ? { adminBatchSize: options.adminBatchSize } : {}),
  });
  return {
    target,
    dialect,
    store,
    admin,
    schema,
    table,
    async requireTable() {
      if (!(await store.tableStatus()).exists) throw tableMissing(dialect.tableName);
    },
    close: end,
  };
}

/** The `TABLE_MISSING` error, with the command that fixes it. */
export function tableMissing(tableName: string): CliError {
  return new CliError('TABLE_MISSING', `the outbox table ${tableName} does not exist`, {
    hint: 'create it with: troutbox migrate (with the same --url, --schema and --table)',
  });
}

/** A driver error as one line; Node's connection errors are sometimes an AggregateError with no message. */
export function describe(error: unknown): string {
  if (error instanceof AggregateError && !error.message) {
    return error.errors.map(describe).join('; ') || 'connection failed';
  }
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const text = error.message || (typeof code === 'string' ? code : error.name);
    return typeof code === 'string' && !text.includes(code) ? `${text} (${code})` : text;
  }
  return String(error);
}
