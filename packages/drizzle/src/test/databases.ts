// The databases and drivers every test runs on, each as a drizzle database, so each test is
// written once and parameterised by database (describe.each(drivers)). Every test makes its own
// namespace — a schema on PostgreSQL, a database on MySQL — and drops it afterwards.
import { PGlite } from '@electric-sql/pglite';
import { type Dialect, mysql, postgres, quoteMysql, quotePg } from '@troutbox/core';
import { uniqueName } from '@troutbox/core/testing';
import { sql } from 'drizzle-orm';
import { int, mysqlSchema, varchar } from 'drizzle-orm/mysql-core';
import { drizzle as drizzleMysql2 } from 'drizzle-orm/mysql2';
import { drizzle as drizzleNodePg } from 'drizzle-orm/node-postgres';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { drizzle as drizzlePostgresJs } from 'drizzle-orm/postgres-js';
import mysqlDriver from 'mysql2/promise';
import pg from 'pg';
import postgresJs from 'postgres';
import {
  type AddMessageOptions,
  type MySqlAddMessageOptions,
  mysqlOutboxTable,
  outboxTable,
} from '../index.js';

export const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const mysqlUrl = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';

export type Kind = 'postgres' | 'mysql';

/** The SQL that differs between the databases, for the few raw statements the tests write. */
export interface TestSql {
  /** Placeholder for parameter `i` (1-based). */
  p(i: number): string;
  /** A qualified table name. */
  table(namespace: string, name: string): string;
  /** The current session's id, as `id`. */
  readonly sessionId: string;
  /** End another session by id. */
  kill(id: unknown): { text: string; params: unknown[] };
  /** An error that a missing table gives (the driver's own `code`). */
  readonly missingTableCode: string;
}

export interface TestDatabase {
  readonly driver: string;
  readonly kind: Kind;
  /**
   * The drizzle database. The shared tests make the same builder calls on PostgreSQL and MySQL
   * databases, which TypeScript cannot type on the union of drizzle's two classes; the public
   * types are checked in types.test-d.ts.
   */
  readonly db: any;
  /** False for PGlite: one connection, so transactions cannot overlap. */
  readonly concurrent: boolean;
  readonly sql: TestSql;
  /**
   * Every statement drizzle has sent on `db` (its logger), in order: a test checks that a
   * refused write sent none.
   */
  readonly statements: string[];
  /** A new schema (PostgreSQL) or database (MySQL) of the test's own, dropped by `close`. */
  namespace(prefix: string): Promise<string>;
  /** Core's dialect for a table in a namespace. */
  dialect(namespace: string, table?: string): Dialect;
  /** The package's drizzle table object for it. */
  outbox(namespace: string, table?: string): any;
  /** addMessage's options naming it. */
  options(namespace: string, table?: string): AddMessageOptions & MySqlAddMessageOptions;
  /** Create an `orders (id, total)` table and give its drizzle table object. */
  orders(namespace: string): Promise<any>;
  close(): Promise<void>;
}

type Parts = Pick<TestDatabase, 'driver' | 'db' | 'concurrent' | 'statements'> & { end(): Promise<void> };

/** How to open a test database. */
export interface OpenOptions {
  /** Connections in the pool (node-postgres, postgres-js, mysql2). @defaultValue 4 */
  connections?: number;
}

/** A drizzle logger that records each statement's text. */
function recorder(): { statements: string[]; logger: { logQuery(query: string): void } } {
  const statements: string[] = [];
  return { statements, logger: { logQuery: (query) => void statements.push(query) } };
}

const pgSql: TestSql = {
  p: (i) => `$${i}`,
  table: (ns, name) => `${quotePg(ns)}.${quotePg(name)}`,
  sessionId: 'SELECT pg_backend_pid() AS id',
  kill: (id) => ({ text: 'SELECT pg_terminate_backend($1)', params: [id] }),
  missingTableCode: '42P01',
};

const mysqlSql: TestSql = {
  p: () => '?',
  table: (ns, name) => `${quoteMysql(ns)}.${quoteMysql(name)}`,
  sessionId: 'SELECT CONNECTION_ID() AS id',
  kill: (id) => ({ text: `KILL ${Number(id)}`, params: [] }),
  missingTableCode: 'ER_NO_SUCH_TABLE',
};

function testDatabase(kind: Kind, parts: Parts): TestDatabase {
  const made: string[] = [];
  const run = (text: string) => parts.db.execute(sql.raw(text));
  const isPg = kind === 'postgres';
  return {
    driver: parts.driver,
    kind,
    db: parts.db,
    concurrent: parts.concurrent,
    statements: parts.statements,
    sql: isPg ? pgSql : mysqlSql,
    async namespace(prefix) {
      const name = uniqueName(prefix);
      await run(isPg ? `CREATE SCHEMA ${quotePg(name)}` : `CREATE DATABASE ${quoteMysql(name)}`);
      made.push(name);
      return name;
    },
    dialect: (ns, table) => (isPg ? postgres({ schema: ns, table }) : mysql({ database: ns, table })),
    outbox: (ns, table) =>
      isPg ? outboxTable({ schema: ns, table }) : mysqlOutboxTable({ database: ns, table }),
    options: (ns, table) => (isPg ? { schema: ns, table } : { database: ns, table }),
    async orders(ns) {
      if (isPg) {
        await run(`CREATE TABLE ${quotePg(ns)}.orders (id text PRIMARY KEY, total integer NOT NULL)`);
        return pgSchema(ns).table('orders', {
          id: text('id').primaryKey(),
          total: integer('total').notNull(),
        });
      }
      await run(`CREATE TABLE ${quoteMysql(ns)}.orders (id VARCHAR(64) PRIMARY KEY, total INT NOT NULL)`);
      return mysqlSchema(ns).table('orders', {
        id: varchar('id', { length: 64 }).primaryKey(),
        total: int('total').notNull(),
      });
    },
    async close() {
      try {
        for (const name of made) {
          await run(
            isPg
              ? `DROP SCHEMA IF EXISTS ${quotePg(name)} CASCADE`
              : `DROP DATABASE IF EXISTS ${quoteMysql(name)}`,
          );
        }
      } finally {
        await parts.end();
      }
    },
  };
}

export function nodePostgres(options: OpenOptions = {}): TestDatabase {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: options.connections ?? 4 });
  const { statements, logger } = recorder();
  return testDatabase('postgres', {
    driver: 'node-postgres',
    db: drizzleNodePg(pool, { logger }),
    concurrent: true,
    statements,
    end: () => pool.end(),
  });
}

export function postgresJsDatabase(options: OpenOptions = {}): TestDatabase {
  const client = postgresJs(databaseUrl, { max: options.connections ?? 4, onnotice: () => {} });
  const { statements, logger } = recorder();
  return testDatabase('postgres', {
    driver: 'postgres-js',
    db: drizzlePostgresJs(client, { logger }),
    concurrent: true,
    statements,
    end: () => client.end({ timeout: 5 }),
  });
}

export async function pgliteDatabase(): Promise<TestDatabase> {
  const client = await PGlite.create();
  const { statements, logger } = recorder();
  return testDatabase('postgres', {
    driver: 'PGlite',
    db: drizzlePglite(client, { logger }),
    concurrent: false,
    statements,
    end: () => client.close(),
  });
}

export function mariadb(options: OpenOptions = {}): TestDatabase {
  const pool = mysqlDriver.createPool({ uri: mysqlUrl, connectionLimit: options.connections ?? 4 });
  const { statements, logger } = recorder();
  return testDatabase('mysql', {
    driver: 'MariaDB mysql2',
    db: drizzleMysql2(pool, { logger }),
    concurrent: true,
    statements,
    end: () => pool.end(),
  });
}

type Open = (options?: OpenOptions) => TestDatabase | Promise<TestDatabase>;

export const drivers: readonly [string, Open][] = [
  ['node-postgres', nodePostgres],
  ['postgres-js', postgresJsDatabase],
  ['PGlite', pgliteDatabase],
  ['MariaDB (mysql2)', mariadb],
];

/** The drivers with a pool, where two transactions can be open at once. */
export const concurrentDrivers: readonly [string, Open][] = drivers.filter(([name]) => name !== 'PGlite');

/** One driver per database, for tests of what depends on the database rather than the driver. */
export const databases: readonly [string, Open][] = [
  ['PostgreSQL', nodePostgres],
  ['MariaDB', mariadb],
];
