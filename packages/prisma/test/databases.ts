// The databases every test runs on, so that each test is written once and parameterised by
// database (`describe.each(databases)`): PostgreSQL through @prisma/adapter-pg and MariaDB/MySQL
// through @prisma/adapter-mariadb. Each test file works in a schema (PostgreSQL) or database
// (MySQL) of its own, dropped afterwards.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PrismaMariaDb } from '@prisma/adapter-mariadb';
import { PrismaPg } from '@prisma/adapter-pg';
import { quoteMysql, quotePg } from '@troutbox/core';
import { uniqueName } from '@troutbox/core/testing';
import mysqlDriver from 'mysql2/promise';
import pg from 'pg';
import { MIGRATION_DIRS } from '../scripts/generate-migration.js';
import {
  type DialectName,
  outbox,
  type PrismaOutboxOptions,
  type PrismaOutboxTableOptions,
} from '../src/index.js';
import { PrismaClient as MysqlPrismaClient } from './generated/mysql/client/client.js';
import { PrismaClient } from './generated/postgres/client/client.js';

export const postgresUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const mysqlUrl = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
export const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The generated client the tests are typed with. Both generated clients have the same `Order`
 * model and the same client API (the outbox model differs only in `headers`: JSON on PostgreSQL,
 * a string on MySQL), so the MySQL client is used through the PostgreSQL client's type.
 */
export type TestClient = PrismaClient;

/** A field of a Prisma model, as the schema test reads it. */
export interface ModelField {
  column: string;
  type: string;
  optional: boolean;
  hasDefault: boolean;
  id: boolean;
  /** The `@db.` native type and its arguments: `{ name: 'VarChar', args: '255' }`. */
  db: { name: string; args: string | undefined } | undefined;
}

/** A table as the database's catalog describes it, in the terms a Prisma model can say. */
export interface TableShape {
  columns: { column: string; type: string; nullable: boolean; hasDefault: boolean }[];
  primaryKey: string[];
  indexes: { name: string; columns: string[]; where: string | undefined }[];
}

/** Plain driver connections, to look at the database from outside Prisma. */
export interface Peek {
  /** Run one statement with the database's own placeholders (see {@link DatabaseUnderTest.p}). */
  query<Row = Record<string, any>>(sql: string, params?: readonly unknown[]): Promise<Row[]>;
  end(): Promise<void>;
}

/** Options of {@link DatabaseUnderTest.makeClient}. */
export interface ClientOptions {
  connections?: number;
  onQuery?: (sql: string) => void;
}

/** Give `onQuery` the text of each statement, from Prisma's `query` log events. */
function queryLog(client: TestClient, onQuery: ((sql: string) => void) | undefined): TestClient {
  if (onQuery !== undefined) {
    (client as unknown as { $on(event: 'query', fn: (e: { query: string }) => void): void }).$on(
      'query',
      (e) => onQuery(e.query),
    );
  }
  return client;
}
/** The client option that makes Prisma emit those events, when someone listens. */
const logOptions = (onQuery: unknown) =>
  onQuery === undefined ? {} : { log: [{ emit: 'event' as const, level: 'query' as const }] };

/** The topic that the trigger of {@link DatabaseUnderTest.refuseTopic} refuses. */
export const REFUSED_TOPIC = 'refused.by.trigger';

export interface DatabaseUnderTest {
  readonly name: DialectName;
  readonly label: string;
  /** Create a schema (PostgreSQL) or database (MySQL) of its own; returns its name. */
  createIsolated(prefix: string): Promise<string>;
  dropIsolated(isolated: string): Promise<void>;
  /**
   * Apply the shipped migration.sql files, then the test schema's `orders` table, in `isolated`,
   * as `prisma migrate deploy` would with a datasource on it.
   */
  applyMigration(isolated: string): Promise<void>;
  /**
   * A Prisma client (this database's generated client and driver adapter) on `isolated`;
   * `onQuery` sees the text of every statement Prisma sends.
   */
  makeClient(isolated: string, options?: ClientOptions): TestClient;
  /** The `outbox()` / `prismaStore()` options for the outbox table in `isolated`. */
  tableOptions(isolated: string): PrismaOutboxTableOptions;
  /** The quoted, qualified name of a table in `isolated`, for SQL the tests write. */
  table(isolated: string, name: string): string;
  /** Placeholder `n` (from 1) in this database's SQL. */
  p(n: number): string;
  peek(): Peek;
  /** Install a trigger that makes any INSERT of a {@link REFUSED_TOPIC} row fail. */
  refuseTopic(peek: Peek, isolated: string): Promise<void>;
  /** Describe a table of `isolated` from the catalog. */
  describeTable(peek: Peek, isolated: string, table: string): Promise<TableShape>;
  /** The column type Prisma Migrate would create for a model field, as the catalog spells it. */
  columnType(field: ModelField): string;
}

/** The shipped migration.sql files of one database, in the order Prisma applies them. */
export function shippedMigrations(dialect: DialectName): { folder: string; sql: string }[] {
  const dir = join(packageRoot, MIGRATION_DIRS[dialect]);
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort()
    .map((folder) => ({ folder, sql: readFileSync(join(dir, folder, 'migration.sql'), 'utf8') }));
}

// What `prisma migrate` would create for each test schema's Order model.
const ORDERS_DDL: Readonly<Record<DialectName, string>> = {
  postgres: `CREATE TABLE "orders" (
  "id" SERIAL PRIMARY KEY,
  "customer" TEXT NOT NULL,
  "total" INTEGER NOT NULL,
  "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP
)`,
  mysql: `CREATE TABLE \`orders\` (
  \`id\` INTEGER NOT NULL AUTO_INCREMENT,
  \`customer\` VARCHAR(255) NOT NULL,
  \`total\` INTEGER NOT NULL,
  \`created_at\` DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (\`id\`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`,
};

/** PostgreSQL prints `status = 'pending'` as `(status = 'pending'::text)`. */
function normalisePredicate(sql: string): string {
  return sql
    .replace(/::text/g, '')
    .replace(/^\((.*)\)$/, '$1')
    .trim();
}

const postgres: DatabaseUnderTest = {
  name: 'postgres',
  label: 'PostgreSQL (adapter-pg)',
  async createIsolated(prefix) {
    const schema = uniqueName(prefix);
    await withPg((c) => c.query(`CREATE SCHEMA ${quotePg(schema)}`));
    return schema;
  },
  async dropIsolated(schema) {
    await withPg((c) => c.query(`DROP SCHEMA IF EXISTS ${quotePg(schema)} CASCADE`));
  },
  async applyMigration(schema) {
    await withPg(async (c) => {
      await c.query(`SET search_path TO ${quotePg(schema)}`);
      for (const { sql } of shippedMigrations('postgres')) await c.query(sql);
      await c.query(ORDERS_DDL.postgres);
    });
  },
  makeClient(schema, options = {}) {
    const client = new PrismaClient({
      adapter: new PrismaPg({ connectionString: postgresUrl, max: options.connections ?? 6 }, { schema }),
      ...logOptions(options.onQuery),
    });
    return queryLog(client as TestClient, options.onQuery);
  },
  tableOptions: (schema) => ({ schema }),
  table: (schema, name) => `${quotePg(schema)}.${quotePg(name)}`,
  p: (n) => `$${n}`,
  peek() {
    const pool = new pg.Pool({ connectionString: postgresUrl, max: 4 });
    return {
      async query<Row>(sql: string, params: readonly unknown[] = []) {
        return (await pool.query(sql, [...params])).rows as Row[];
      },
      end: () => pool.end(),
    };
  },
  async refuseTopic(peek, schema) {
    await peek.query(
      `CREATE FUNCTION ${quotePg(schema)}.refuse_insert() RETURNS trigger LANGUAGE plpgsql
       AS $$ BEGIN RAISE EXCEPTION 'refused by a test trigger'; END $$`,
    );
    await peek.query(
      `CREATE TRIGGER refuse_topic BEFORE INSERT ON ${quotePg(schema)}.outbox_messages FOR EACH ROW
       WHEN (NEW.topic = '${REFUSED_TOPIC}') EXECUTE FUNCTION ${quotePg(schema)}.refuse_insert()`,
    );
  },
  async describeTable(peek, schema, table) {
    const columns = await peek.query(
      `SELECT column_name, data_type, is_nullable, column_default, is_identity
       FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`,
      [schema, table],
    );
    const pk = await peek.query(
      `SELECT a.attname FROM pg_index i
       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
       WHERE i.indrelid = format('%I.%I', $1::text, $2::text)::regclass AND i.indisprimary`,
      [schema, table],
    );
    const indexes = await peek.query(
      `SELECT c.relname AS name, pg_get_expr(i.indpred, i.indrelid) AS predicate,
              array(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY k(attnum, n)
                    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum ORDER BY k.n)::text[] AS columns
       FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
       WHERE i.indrelid = format('%I.%I', $1::text, $2::text)::regclass AND NOT i.indisprimary
       ORDER BY c.relname`,
      [schema, table],
    );
    return {
      columns: columns.map((c) => ({
        column: c.column_name,
        type: c.data_type,
        nullable: c.is_nullable === 'YES',
        hasDefault: c.column_default !== null || c.is_identity === 'YES',
      })),
      primaryKey: pk.map((r) => r.attname),
      indexes: indexes.map((r) => ({
        name: r.name,
        columns: r.columns,
        where: r.predicate === null ? undefined : normalisePredicate(r.predicate),
      })),
    };
  },
  columnType(field) {
    if (field.type === 'DateTime') {
      return field.db?.name === 'Timestamptz' ? 'timestamp with time zone' : 'timestamp without time zone';
    }
    const types: Record<string, string> = {
      BigInt: 'bigint',
      String: 'text',
      Bytes: 'bytea',
      Json: 'jsonb',
      Int: 'integer',
      Boolean: 'boolean',
    };
    return types[field.type] ?? `unknown Prisma type ${field.type}`;
  },
};

const mysql: DatabaseUnderTest = {
  name: 'mysql',
  label: 'MariaDB/MySQL (adapter-mariadb)',
  async createIsolated(prefix) {
    const database = uniqueName(prefix);
    await withMysql(undefined, (c) => c.query(`CREATE DATABASE ${quoteMysql(database)}`));
    return database;
  },
  async dropIsolated(database) {
    // A MySQL database takes its tables and triggers with it.
    await withMysql(undefined, (c) => c.query(`DROP DATABASE IF EXISTS ${quoteMysql(database)}`));
  },
  async applyMigration(database) {
    // On a connection whose current database is `database`, as a datasource URL would give it.
    await withMysql(database, async (c) => {
      for (const { sql } of shippedMigrations('mysql')) await c.query(sql);
      await c.query(ORDERS_DDL.mysql);
    });
  },
  makeClient(database, options = {}) {
    const url = new URL(mysqlUrl);
    url.pathname = `/${database}`;
    url.searchParams.set('connectionLimit', String(options.connections ?? 6));
    // Same client API as the PostgreSQL client (see TestClient).
    const client = new MysqlPrismaClient({
      adapter: new PrismaMariaDb(url.toString()),
      ...logOptions(options.onQuery),
    });
    return queryLog(client as unknown as TestClient, options.onQuery);
  },
  tableOptions: (database) => ({ dialect: 'mysql', database }),
  table: (database, name) => `${quoteMysql(database)}.${quoteMysql(name)}`,
  p: () => '?',
  peek() {
    const pool = mysqlDriver.createPool({ uri: mysqlUrl, connectionLimit: 4 });
    return {
      async query<Row>(sql: string, params: readonly unknown[] = []) {
        const [rows] = await pool.query(sql, [...params]);
        return (Array.isArray(rows) ? rows : []) as Row[];
      },
      end: () => pool.end(),
    };
  },
  async refuseTopic(peek, database) {
    await peek.query(
      `CREATE TRIGGER ${quoteMysql(database)}.refuse_topic BEFORE INSERT ON ${quoteMysql(database)}.outbox_messages
       FOR EACH ROW BEGIN
         IF NEW.topic = '${REFUSED_TOPIC}' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused by a test trigger'; END IF;
       END`,
    );
  },
  async describeTable(peek, database, table) {
    const columns = await peek.query(
      `SELECT column_name AS name, column_type AS type, is_nullable AS nullable, column_default AS dflt, extra
       FROM information_schema.columns WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position`,
      [database, table],
    );
    const keys = await peek.query<{ name: string; column: string }>(
      `SELECT index_name AS name, column_name AS \`column\` FROM information_schema.statistics
       WHERE table_schema = ? AND table_name = ? ORDER BY index_name, seq_in_index`,
      [database, table],
    );
    const indexes = new Map<string, string[]>();
    for (const k of keys) indexes.set(k.name, [...(indexes.get(k.name) ?? []), k.column]);
    return {
      columns: columns.map((c) => ({
        column: c.name,
        // MariaDB and MySQL 5.7 print integer display widths (`bigint(20)`); MySQL 8 does not.
        type: String(c.type).replace(/^((?:tiny|small|medium|big)?int)\(\d+\)/, '$1'),
        nullable: c.nullable === 'YES',
        // MariaDB shows a nullable column without a default as the literal NULL.
        hasDefault: (c.dflt !== null && c.dflt !== 'NULL') || String(c.extra).includes('auto_increment'),
      })),
      primaryKey: indexes.get('PRIMARY') ?? [],
      indexes: [...indexes]
        .filter(([name]) => name !== 'PRIMARY')
        .map(([name, cols]) => ({ name, columns: cols, where: undefined })),
    };
  },
  columnType(field) {
    // Prisma's MySQL mapping: a @db native type with its arguments, or the scalar type's default.
    if (field.db !== undefined) {
      const name = field.db.name.toLowerCase();
      return field.db.args === undefined ? name : `${name}(${field.db.args})`;
    }
    const types: Record<string, string> = {
      BigInt: 'bigint',
      String: 'varchar(191)',
      Bytes: 'longblob',
      Json: 'json',
      Int: 'int',
      Boolean: 'tinyint(1)',
      DateTime: 'datetime(3)',
    };
    return types[field.type] ?? `unknown Prisma type ${field.type}`;
  },
};

async function withPg<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: postgresUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function withMysql<T>(
  database: string | undefined,
  fn: (conn: mysqlDriver.Connection) => Promise<T>,
): Promise<T> {
  // Several statements per query: a migration.sql runs whole, as `prisma migrate deploy` runs it.
  const conn = await mysqlDriver.createConnection({
    uri: mysqlUrl,
    multipleStatements: true,
    ...(database ? { database } : {}),
  });
  try {
    return await fn(conn);
  } finally {
    await conn.end();
  }
}

/** Every database the tests run on. */
export const databases: readonly DatabaseUnderTest[] = [postgres, mysql];

/**
 * The outbox table and an `orders` table in an isolated schema or database, a Prisma client with
 * the extension on it (and one with the extension opted into autocommit), and plain connections to
 * look from outside Prisma. `close` drops it all.
 */
export async function openTestDatabase(
  database: DatabaseUnderTest,
  options: Omit<PrismaOutboxOptions, keyof PrismaOutboxTableOptions | 'autocommit'> = {},
) {
  const isolated = await database.createIsolated('prisma');
  await database.applyMigration(isolated);
  const statements: string[] = [];
  const base = database.makeClient(isolated, { onQuery: (sql) => statements.push(sql) });
  const tableOptions = database.tableOptions(isolated);
  const prisma = base.$extends(outbox({ ...options, ...tableOptions }));
  const autocommit = base.$extends(outbox({ ...options, ...tableOptions, autocommit: true }));
  const peek = database.peek();
  const outboxTable = database.table(isolated, 'outbox_messages');
  return {
    database,
    isolated,
    base,
    /** The base client with `outbox()`: `$outbox` needs a transaction. */
    prisma,
    /** The base client with `outbox({ autocommit: true })`: `prisma.$outbox` writes on its own. */
    autocommit,
    /** Every statement Prisma sent through `base` (and so `prisma`, `autocommit`), in order. */
    statements,
    /** Options that point `outbox()` and `prismaStore()` at this test's table. */
    tableOptions,
    /** The quoted, qualified outbox table. */
    outboxTable,
    /** Plain connections outside Prisma, to see what other sessions see. */
    peek,
    async outboxCount(topic: string, status?: string): Promise<number> {
      const p = database.p;
      const rows = await peek.query<{ n: unknown }>(
        status === undefined
          ? `SELECT COUNT(*) AS n FROM ${outboxTable} WHERE topic = ${p(1)}`
          : `SELECT COUNT(*) AS n FROM ${outboxTable} WHERE topic = ${p(1)} AND status = ${p(2)}`,
        status === undefined ? [topic] : [topic, status],
      );
      return Number(rows[0]!.n);
    },
    async close(): Promise<void> {
      await base.$disconnect();
      await peek.end();
      await database.dropIsolated(isolated);
    },
  };
}

export type TestDatabase = Awaited<ReturnType<typeof openTestDatabase>>;
