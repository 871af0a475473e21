// Shared by the tests of this package; not part of the public API (excluded from the build).
// Every database test is written once and run on each entry of `databases` (describe.each).
import {
  type Dialect,
  type Executor,
  type IsolationLevel,
  mysql,
  mysql2Pool,
  type NewMessage,
  pgPool,
  postgres,
  quoteMysql,
  quotePg,
  SqlMessageStore,
} from '@troutbox/core';
import { uniqueName } from '@troutbox/core/testing';
import mysqlDriver from 'mysql2/promise';
import pg from 'pg';
import { DataSource, type DataSourceOptions, EntitySchema, type Logger } from 'typeorm';
import { dialectFor, type TypeormOutboxOptions } from './options.js';
import type { HasOutboxMessages } from './subscriber.js';

export const pgUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const mysqlUrl = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';

/** A table as the catalog describes it, without the namespace's name. */
export interface TableDescription {
  columns: unknown[];
  indexNames: string[];
  [more: string]: unknown;
}

/** One database server the tests run on, and how a test gets a namespace of its own on it. */
export interface TestDatabase {
  /** For test titles. */
  readonly name: string;
  /** TypeORM's data source `type`. */
  readonly type: 'postgres' | 'mariadb';
  /** Data source options on the namespace `ns` (a PostgreSQL schema, a MySQL database). */
  dataSourceOptions(ns: string): DataSourceOptions;
  /** Create the namespace `ns`. */
  createIsolated(ns: string): Promise<void>;
  /** Drop the namespace `ns` with everything in it. */
  dropIsolated(ns: string): Promise<void>;
  /** Outbox options naming the namespace: `{ schema }` or `{ database }`. */
  where(ns: string): Pick<TypeormOutboxOptions, 'schema' | 'database'>;
  /** The quoted, qualified name of a table. */
  qualify(ns: string, table: string): string;
  /** Columns, indexes, checks and table options of a table, comparable across namespaces. */
  describeTable(dataSource: DataSource, ns: string, table: string): Promise<TableDescription>;
  /** The indexes core's migrations give an outbox table. */
  outboxIndexNames(table: string): string[];
  tableExists(dataSource: DataSource, ns: string, table: string): Promise<boolean>;
  /** The isolation level of a transaction that asks for none. */
  readonly defaultIsolation: IsolationLevel;
  /**
   * The isolation level of the transaction `tx` is in, lower case. `dataSource` (on the
   * namespace `ns`, with a connection free besides the one of `tx`) may be used to look.
   */
  currentIsolation(tx: Executor, dataSource: DataSource, ns: string): Promise<string>;
  /** Statements that make this connection give up waiting for a row lock after a second. */
  readonly shortLockWait: { set: string; reset: string };
  /** A store on core's own driver executor (pg / mysql2), migrated by core. */
  coreStore(ns: string, table?: string): Promise<{ store: SqlMessageStore; close(): Promise<void> }>;
}

const postgresDatabase: TestDatabase = {
  name: 'PostgreSQL',
  type: 'postgres',
  dataSourceOptions: (schema) => ({ type: 'postgres', url: pgUrl, schema }),
  async createIsolated(schema) {
    const client = new pg.Client({ connectionString: pgUrl });
    await client.connect();
    try {
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${quotePg(schema)}`);
    } finally {
      await client.end();
    }
  },
  async dropIsolated(schema) {
    const client = new pg.Client({ connectionString: pgUrl });
    await client.connect();
    try {
      await client.query(`DROP SCHEMA IF EXISTS ${quotePg(schema)} CASCADE`);
    } finally {
      await client.end();
    }
  },
  where: (schema) => ({ schema }),
  defaultIsolation: 'read committed',
  async currentIsolation(tx) {
    const { rows } = await tx.query<{ level: string }>(
      "SELECT current_setting('transaction_isolation') AS level",
    );
    return rows[0]!.level.toLowerCase();
  },
  shortLockWait: { set: "SET lock_timeout = '1s'", reset: 'RESET lock_timeout' },
  qualify: (schema, table) => `${quotePg(schema)}.${quotePg(table)}`,
  async describeTable(dataSource, schema, table) {
    const columns = await dataSource.query(
      `SELECT column_name, data_type, is_nullable, column_default, is_identity, identity_generation, ordinal_position
         FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`,
      [schema, table],
    );
    const indexes = await dataSource.query(
      `SELECT indexname, replace(indexdef, $1, 'S') AS indexdef FROM pg_indexes
        WHERE schemaname = $2 AND tablename = $3 ORDER BY indexname`,
      [`${schema}.`, schema, table],
    );
    const constraints = await dataSource.query(
      `SELECT conname, contype, pg_get_constraintdef(c.oid) AS def FROM pg_constraint c
         JOIN pg_class t ON t.oid = c.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE n.nspname = $1 AND t.relname = $2 ORDER BY conname`,
      [schema, table],
    );
    return {
      columns,
      indexes,
      constraints,
      indexNames: indexes.map((i: { indexname: string }) => i.indexname),
    };
  },
  outboxIndexNames: (table) => [
    `${table}_dead_idx`,
    `${table}_key_seq_idx`,
    `${table}_pending_idx`,
    `${table}_pkey`,
    `${table}_sent_idx`,
    `${table}_unkeyed_idx`,
  ],
  async tableExists(dataSource, schema, table) {
    const [{ exists }] = await dataSource.query('SELECT to_regclass($1) IS NOT NULL AS exists', [
      `${quotePg(schema)}.${quotePg(table)}`,
    ]);
    return exists === true;
  },
  async coreStore(schema, table) {
    const pool = new pg.Pool({ connectionString: pgUrl, max: 2 });
    const store = new SqlMessageStore({ dialect: postgres({ schema, table }), db: pgPool(pool) });
    await store.migrate();
    return { store, close: () => pool.end() };
  },
};

function withDatabase(database: string): string {
  const url = new URL(mysqlUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

async function onMysql<T>(fn: (conn: mysqlDriver.Connection) => Promise<T>): Promise<T> {
  const conn = await mysqlDriver.createConnection({ uri: mysqlUrl });
  try {
    return await fn(conn);
  } finally {
    await conn.end();
  }
}

const mariadbDatabase: TestDatabase = {
  name: 'MariaDB',
  // 'mariadb' rather than 'mysql': TypeORM reads MariaDB's quoted column defaults by this type.
  type: 'mariadb',
  // Times are stored in UTC; timezone 'Z' makes mysql2 read and write Dates as UTC.
  // (TypeORM lets the url's database win over `database`, so the url names it.)
  dataSourceOptions: (database) => ({ type: 'mariadb', url: withDatabase(database), timezone: 'Z' }),
  createIsolated: (database) =>
    onMysql(async (conn) => {
      await conn.query(`CREATE DATABASE IF NOT EXISTS ${quoteMysql(database)}`);
    }),
  dropIsolated: (database) =>
    onMysql(async (conn) => {
      await conn.query(`DROP DATABASE IF EXISTS ${quoteMysql(database)}`);
    }),
  where: (database) => ({ database }),
  defaultIsolation: 'repeatable read', // InnoDB's
  // Neither @@tx_isolation (the session's level) nor INNODB_TRX (a cache refreshed at most every
  // 0.1 s) tells the level of the transaction at hand, so look at what it does: SERIALIZABLE
  // share-locks the rows it reads; READ COMMITTED sees a row committed after its first read,
  // REPEATABLE READ does not.
  async currentIsolation(tx, dataSource, database) {
    const probe = `${quoteMysql(database)}.\`isolation_probe\``;
    await dataSource.query(
      `CREATE TABLE IF NOT EXISTS ${probe} (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY) ENGINE=InnoDB`,
    );
    await dataSource.query(`INSERT INTO ${probe} () VALUES ()`);
    const count = async () =>
      Number((await tx.query<{ n: unknown }>(`SELECT COUNT(*) AS n FROM ${probe}`)).rows[0]!.n);
    const before = await count();
    const free = await dataSource.query(`SELECT id FROM ${probe} FOR UPDATE SKIP LOCKED`);
    if (free.length === 0) return 'serializable';
    await dataSource.query(`INSERT INTO ${probe} () VALUES ()`);
    return (await count()) > before ? 'read committed' : 'repeatable read';
  },
  shortLockWait: {
    set: 'SET SESSION innodb_lock_wait_timeout = 1',
    reset: 'SET SESSION innodb_lock_wait_timeout = DEFAULT',
  },
  qualify: (database, table) => `${quoteMysql(database)}.${quoteMysql(table)}`,
  async describeTable(dataSource, database, table) {
    const columns = await dataSource.query(
      `SELECT COLUMN_NAME, ORDINAL_POSITION, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA, CHARACTER_SET_NAME, COLLATION_NAME
         FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
      [database, table],
    );
    const indexes = await dataSource.query(
      `SELECT INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME, NON_UNIQUE FROM information_schema.STATISTICS
        WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY INDEX_NAME, SEQ_IN_INDEX`,
      [database, table],
    );
    const checks = await dataSource.query(
      `SELECT CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS
        WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ? ORDER BY CONSTRAINT_NAME`,
      [database, table],
    );
    const options = await dataSource.query(
      'SELECT ENGINE, TABLE_COLLATION FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?',
      [database, table],
    );
    return {
      columns,
      indexes,
      checks,
      options,
      indexNames: indexes.map((i: { INDEX_NAME: string }) => i.INDEX_NAME),
    };
  },
  outboxIndexNames: (table) => ['PRIMARY', `${table}_claim_idx`, `${table}_sent_idx`, `${table}_key_seq_idx`],
  async tableExists(dataSource, database, table) {
    const rows = await dataSource.query(
      'SELECT 1 AS found FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?',
      [database, table],
    );
    return rows.length === 1;
  },
  async coreStore(database, table) {
    const pool = mysqlDriver.createPool({ uri: mysqlUrl, connectionLimit: 2 });
    const store = new SqlMessageStore({ dialect: mysql({ database, table }), db: mysql2Pool(pool) });
    await store.migrate();
    return { store, close: () => pool.end() };
  },
};

/** The databases every test runs on. */
export const databases: readonly TestDatabase[] = [postgresDatabase, mariadbDatabase];

/** Core's dialect for an outbox table in the namespace `ns`, the way this package picks it. */
export function outboxDialect(db: TestDatabase, ns: string, table?: string): Dialect {
  return dialectFor(db.type, { ...db.where(ns), table });
}

/** A business entity that records outbox messages, mapped without decorators. */
export class Order implements HasOutboxMessages {
  declare id: number;
  declare total: number;
  declare status: string;
  #messages: NewMessage[] = [];

  static create(total: number): Order {
    const order = new Order();
    order.total = total;
    order.status = 'new';
    return order;
  }

  record(message: NewMessage): this {
    this.#messages.push(message);
    return this;
  }

  pullOutboxMessages(): NewMessage[] {
    return this.#messages.splice(0);
  }
}

export const OrderSchema = new EntitySchema<Order>({
  name: 'Order',
  target: Order,
  tableName: 'orders',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    total: { type: 'integer' },
    status: { type: 'text' },
  },
});

/** A logger that records every statement with the query runner that ran it. */
export class StatementLog implements Logger {
  readonly statements: string[] = [];
  readonly runners: unknown[] = [];
  logQuery(query: string, _parameters?: unknown[], queryRunner?: unknown): void {
    this.statements.push(query);
    this.runners.push(queryRunner);
  }
  logQueryError(): void {}
  logQuerySlow(): void {}
  logSchemaBuild(): void {}
  logMigration(): void {}
  log(): void {}
  clear(): void {
    this.statements.length = 0;
    this.runners.length = 0;
  }
}

/** A data source on a namespace of its own on `db` (created here, dropped by `close`). */
export async function testDataSource(
  db: TestDatabase,
  options: Partial<Pick<DataSourceOptions, 'entities' | 'subscribers' | 'migrations' | 'logger'>> & {
    ns?: string;
    synchronize?: boolean;
    poolSize?: number;
  } = {},
): Promise<{ dataSource: DataSource; ns: string; close(): Promise<void> }> {
  const ns = options.ns ?? uniqueName('typeorm');
  await db.createIsolated(ns);
  const dataSource = new DataSource({
    ...db.dataSourceOptions(ns),
    poolSize: options.poolSize ?? 6,
    entities: options.entities ?? [],
    subscribers: options.subscribers ?? [],
    migrations: options.migrations ?? [],
    logger: options.logger,
    synchronize: options.synchronize ?? false,
  } as DataSourceOptions);
  await dataSource.initialize();
  return {
    dataSource,
    ns,
    async close() {
      await dataSource.destroy();
      await db.dropIsolated(ns);
    },
  };
}
