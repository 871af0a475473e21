// The databases every Kysely test runs on, so that each test is written once and parameterised
// by database (describe.each(databases)). Not part of the package: excluded from the build.
import { uniqueName } from '@troutbox/core/testing';
import { Kysely, type LogEvent, MysqlDialect, PostgresDialect, sql } from 'kysely';
import { createPool } from 'mysql2';
import pg from 'pg';
import type { OutboxDialectName } from './index.js';

const pgUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const mysqlUrl = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';

/** A Kysely instance with a schema (a database on MySQL) of its own, dropped by `close`. */
export interface TestDatabase {
  readonly db: Kysely<any>;
  readonly schema: string;
  close(): Promise<void>;
}

export interface OpenOptions {
  connections?: number;
  onQuery?: (sql: string) => void;
}

/** Kysely's `log` option for `onQuery`: every statement, whether it succeeded or failed. */
const logTo = (onQuery: OpenOptions['onQuery']) =>
  onQuery ? { log: (event: LogEvent) => onQuery(event.query.sql) } : {};

export interface DatabaseUnderTest {
  readonly label: string;
  readonly dialect: OutboxDialectName;
  /**
   * Create a fresh schema (database) and a Kysely instance on the server. `onQuery` sees the SQL
   * of every statement the instance (or a transaction of it) sent, to prove that none was.
   */
  open(prefix: string, options?: OpenOptions): Promise<TestDatabase>;
  /** Describe a table the way the database's catalog does, without the schema name. */
  describeTable(db: Kysely<any>, schema: string, table: string): Promise<unknown>;
  tableExists(db: Kysely<any>, schema: string, table: string): Promise<boolean>;
  /** Drop a schema (database) and everything in it, if it exists. */
  dropSchema(db: Kysely<any>, schema: string): Promise<void>;
}

const postgresUnderTest: DatabaseUnderTest = {
  label: 'PostgreSQL (PostgresDialect)',
  dialect: 'postgres',
  async open(prefix, options = {}) {
    const schema = uniqueName(prefix);
    const pool = new pg.Pool({ connectionString: pgUrl, max: options.connections ?? 4 });
    const db = new Kysely<any>({ dialect: new PostgresDialect({ pool }), ...logTo(options.onQuery) });
    await db.schema.createSchema(schema).execute();
    return {
      db,
      schema,
      async close() {
        await postgresUnderTest.dropSchema(db, schema);
        await db.destroy();
      },
    };
  },
  async describeTable(db, schema, table) {
    const columns = await sql<Record<string, unknown>>`
      SELECT column_name, ordinal_position, data_type, is_nullable, column_default, is_identity, identity_generation
      FROM information_schema.columns WHERE table_schema = ${schema} AND table_name = ${table}
      ORDER BY ordinal_position`.execute(db);
    const indexes = await sql<{ indexname: string; indexdef: string }>`
      SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = ${schema} AND tablename = ${table}
      ORDER BY indexname`.execute(db);
    const constraints = await sql<{ conname: string; def: string }>`
      SELECT c.conname, pg_get_constraintdef(c.oid) AS def FROM pg_constraint c
      WHERE c.conrelid = to_regclass(${`"${schema}"."${table}"`}) ORDER BY c.conname`.execute(db);
    return {
      columns: columns.rows,
      indexes: indexes.rows.map((i) => ({ ...i, indexdef: i.indexdef.replaceAll(schema, '<schema>') })),
      constraints: constraints.rows,
    };
  },
  async tableExists(db, schema, table) {
    const { rows } = await sql<{
      t: string | null;
    }>`SELECT to_regclass(${`"${schema}"."${table}"`})::text AS t`.execute(db);
    return rows[0]!.t !== null;
  },
  async dropSchema(db, schema) {
    await db.schema.dropSchema(schema).ifExists().cascade().execute();
  },
};

const mysqlUnderTest: DatabaseUnderTest = {
  label: 'MariaDB/MySQL (MysqlDialect)',
  dialect: 'mysql',
  async open(prefix, options = {}) {
    const schema = uniqueName(prefix);
    const pool = createPool({ uri: mysqlUrl, connectionLimit: options.connections ?? 4 });
    const db = new Kysely<any>({ dialect: new MysqlDialect({ pool }), ...logTo(options.onQuery) });
    await db.schema.createSchema(schema).execute();
    return {
      db,
      schema,
      async close() {
        await mysqlUnderTest.dropSchema(db, schema);
        await db.destroy();
      },
    };
  },
  async describeTable(db, schema, table) {
    const columns = await sql<Record<string, unknown>>`
      SELECT column_name, ordinal_position, column_type, is_nullable, column_default, extra, collation_name
      FROM information_schema.columns WHERE table_schema = ${schema} AND table_name = ${table}
      ORDER BY ordinal_position`.execute(db);
    const indexes = await sql<Record<string, unknown>>`
      SELECT index_name, seq_in_index, column_name, non_unique FROM information_schema.statistics
      WHERE table_schema = ${schema} AND table_name = ${table} ORDER BY index_name, seq_in_index`.execute(db);
    const constraints = await sql<Record<string, unknown>>`
      SELECT constraint_name, check_clause FROM information_schema.check_constraints
      WHERE constraint_schema = ${schema} AND table_name = ${table} ORDER BY constraint_name`.execute(db);
    const engine = await sql<Record<string, unknown>>`
      SELECT engine, table_collation FROM information_schema.tables
      WHERE table_schema = ${schema} AND table_name = ${table}`.execute(db);
    return {
      columns: columns.rows,
      indexes: indexes.rows,
      constraints: constraints.rows,
      table: engine.rows,
    };
  },
  async tableExists(db, schema, table) {
    const { rows } = await sql<{ n: number | string }>`
      SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = ${schema} AND table_name = ${table}`.execute(
      db,
    );
    return Number(rows[0]!.n) === 1;
  },
  async dropSchema(db, schema) {
    // A MySQL database takes its tables with it.
    await db.schema.dropSchema(schema).ifExists().execute();
  },
};

/** Every database the tests run on. */
export const databases: readonly DatabaseUnderTest[] = [postgresUnderTest, mysqlUnderTest];
