// The databases the drain and producer benchmarks run on. Each target holds what differs:
// pools, placeholders, the seed, the raw-SQL baseline's statements and the producer's tables.
import {
  type Dialect,
  type Executor,
  mysql,
  mysql2Connection,
  mysql2Pool,
  pgClient,
  pgPool,
  postgres,
  type TransactionalExecutor,
} from '@troutbox/core';
import mysqlDriver from 'mysql2/promise';
import type pg from 'pg';
import { databaseUrl, newPool, schemaName } from './util.js';

export const mysqlUrl = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';

/** One connection held for a run, used the driver's own way. */
export interface BenchSession {
  /** SQL in the target's placeholder style. */
  query(sql: string, params?: unknown[]): Promise<unknown[]>;
  begin(): Promise<void>;
  commit(): Promise<void>;
  /** troutbox's executor on this connection. */
  readonly executor: Executor;
  release(): void;
}

export interface BenchPool {
  readonly db: TransactionalExecutor;
  session(): Promise<BenchSession>;
  end(): Promise<void>;
}

export interface BenchTarget {
  readonly name: 'postgres' | 'mysql';
  readonly label: string;
  /** OpenTelemetry `db.system`. */
  readonly otelSystem: string;
  serverVersion(): Promise<string>;
  dialect(namespace: string): Dialect;
  pool(max: number): BenchPool;
  /**
   * A fresh schema (database) with a migrated outbox table holding `count` pending ~120-byte
   * messages over 1,000 keys; with `ordering: 'key'`, each with its place in its key (`seq`).
   */
  seed(
    count: number,
    options?: { ordering?: 'none' | 'key' },
  ): Promise<{ namespace: string; dialect: Dialect }>;
  drop(namespace: string): Promise<void>;
  /** The raw baseline's statements on `table`: a bare locking claim and a bulk mark-as-sent. */
  rawClaim(table: string, limit: number): { sql: string; params: unknown[] };
  rawMarkSent(table: string, ids: unknown[]): { sql: string; params: unknown[] };
  /** Run once per raw-baseline connection (the isolation the relay uses). */
  rawSessionSetup: readonly string[];
  /** The producer benchmark's business table and statements. */
  createOrders(namespace: string): Promise<string>;
  insertOrder(orders: string, id: number): { sql: string; params: unknown[] };
  /** The hand-written single-row outbox INSERT a user would write without troutbox. */
  handInsert(table: string, id: number, payload: Buffer): { sql: string; params: unknown[] };
}

const PAYLOAD_NOTE = 'x'.repeat(40);
const TRACE_HEADERS = '{"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}';

function pgSession(client: pg.PoolClient): BenchSession {
  return {
    async query(sql, params) {
      return (await client.query(sql, params)).rows;
    },
    begin: async () => void (await client.query('BEGIN')),
    commit: async () => void (await client.query('COMMIT')),
    executor: pgClient(client),
    release: () => client.release(),
  };
}

async function withPg<T>(fn: (pool: pg.Pool) => Promise<T>): Promise<T> {
  const pool = newPool(2);
  try {
    return await fn(pool);
  } finally {
    await pool.end();
  }
}

export const postgresTarget: BenchTarget = {
  name: 'postgres',
  label: 'PostgreSQL',
  otelSystem: 'postgresql',
  serverVersion: () =>
    withPg(async (pool) => (await pool.query<{ v: string }>('SHOW server_version')).rows[0]!.v as string),
  dialect: (schema) => postgres({ schema }),
  pool(max) {
    const pool = newPool(max);
    return {
      db: pgPool(pool),
      session: async () => pgSession(await pool.connect()),
      end: () => pool.end(),
    };
  },
  seed: (count, options = {}) =>
    withPg(async (pool) => {
      const schema = schemaName('drain');
      const dialect = postgres({ schema, ordering: options.ordering ?? 'none' });
      await dialect.migrate(pgPool(pool));
      await pool.query(
        `INSERT INTO "${schema}".outbox_messages (topic, key, payload, headers, seq)
         SELECT 'orders', 'order-' || (g % 1000), convert_to(json_build_object('type', 'OrderPlaced', 'orderId', g, 'total', g % 977, 'currency', 'EUR', 'note', $2::text)::text, 'UTF8'), $3::jsonb,
           CASE WHEN $4 THEN g / 1000 + 1 END
         FROM generate_series(1, $1) AS g`,
        [count, PAYLOAD_NOTE, TRACE_HEADERS, options.ordering === 'key'],
      );
      await pool.query(`VACUUM ANALYZE "${schema}".outbox_messages`);
      return { namespace: schema, dialect };
    }),
  drop: (schema) => withPg(async (pool) => void (await pool.query(`DROP SCHEMA "${schema}" CASCADE`))),
  rawClaim: (t, limit) => ({
    sql: `SELECT id, topic, key, payload, content_type, headers, created_at, attempts FROM ${t}
          WHERE status = 'pending' AND available_at <= now() ORDER BY available_at, id LIMIT $1 FOR UPDATE SKIP LOCKED`,
    params: [limit],
  }),
  rawMarkSent: (t, ids) => ({
    sql: `UPDATE ${t} SET status = 'sent', sent_at = now() WHERE id = ANY($1::bigint[])`,
    params: [ids],
  }),
  // PostgreSQL's default, READ COMMITTED, is the relay's level.
  rawSessionSetup: [],
  createOrders: (schema) =>
    withPg(async (pool) => {
      const orders = `"${schema}".orders`;
      await pool.query(
        `CREATE TABLE ${orders} (id bigint PRIMARY KEY, customer text NOT NULL, total integer NOT NULL)`,
      );
      return orders;
    }),
  insertOrder: (orders, id) => ({
    sql: `INSERT INTO ${orders} (id, customer, total) VALUES ($1, $2, $3)`,
    params: [id, 'c-42', id % 977],
  }),
  handInsert: (t, id, payload) => ({
    sql: `INSERT INTO ${t} (topic, key, payload, headers) VALUES ($1, $2, $3, $4::jsonb)`,
    params: ['orders', String(id), payload, '{}'],
  }),
};

function mysqlPool(max: number) {
  return mysqlDriver.createPool({ uri: mysqlUrl, connectionLimit: max });
}

async function withMysql<T>(fn: (pool: mysqlDriver.Pool) => Promise<T>): Promise<T> {
  const pool = mysqlPool(2);
  try {
    return await fn(pool);
  } finally {
    await pool.end();
  }
}

// Digits 0-9, cross-joined into 0…999,999: a row source that MySQL 8 and MariaDB both have.
const DIGITS =
  '(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)';
const SERIES = `SELECT 1 + a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d + 100000 * h.d AS g
  FROM ${DIGITS} a, ${DIGITS} b, ${DIGITS} c, ${DIGITS} e, ${DIGITS} f, ${DIGITS} h`;

export const mysqlTarget: BenchTarget = {
  name: 'mysql',
  label: 'MariaDB',
  otelSystem: 'mysql',
  serverVersion: () =>
    withMysql(async (pool) => {
      const [rows] = await pool.query('SELECT VERSION() AS v');
      return String((rows as { v: string }[])[0]!.v);
    }),
  dialect: (database) => mysql({ database }),
  pool(max) {
    const pool = mysqlPool(max);
    return {
      db: mysql2Pool(pool),
      async session() {
        const conn = await pool.getConnection();
        return {
          async query(sql, params) {
            const [rows] = await conn.query(sql, params as mysqlDriver.QueryValues);
            return Array.isArray(rows) ? rows : [];
          },
          begin: () => conn.beginTransaction(),
          commit: () => conn.commit(),
          executor: mysql2Connection(conn),
          release: () => conn.release(),
        };
      },
      end: () => pool.end(),
    };
  },
  seed: (count, options = {}) =>
    withMysql(async (pool) => {
      const database = schemaName('drain');
      const dialect = mysql({ database, ordering: options.ordering ?? 'none' });
      await dialect.migrate(mysql2Pool(pool));
      await pool.query(
        `INSERT INTO ${dialect.tableName} (topic, \`key\`, payload, content_type, headers, available_at, created_at, seq)
         SELECT 'orders', CONCAT('order-', g % 1000), CAST(JSON_OBJECT('type', 'OrderPlaced', 'orderId', g, 'total', g % 977, 'currency', 'EUR', 'note', ?) AS BINARY), 'application/json', ?, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6),
           IF(?, FLOOR(g / 1000) + 1, NULL)
         FROM (${SERIES}) AS s WHERE g <= ? ORDER BY g`,
        [PAYLOAD_NOTE, TRACE_HEADERS, options.ordering === 'key', count],
      );
      await pool.query(`ANALYZE TABLE ${dialect.tableName}`);
      return { namespace: database, dialect };
    }),
  drop: (database) => withMysql(async (pool) => void (await pool.query(`DROP DATABASE \`${database}\``))),
  rawClaim: (t, limit) => ({
    sql: `SELECT id, topic, \`key\`, payload, content_type, headers, created_at, attempts FROM ${t}
          WHERE status = 'pending' AND available_at <= UTC_TIMESTAMP(6) ORDER BY available_at, id LIMIT ? FOR UPDATE SKIP LOCKED`,
    params: [limit],
  }),
  rawMarkSent: (t, ids) => ({
    // mysql2 expands an array bound to `IN (?)` into a list of values.
    sql: `UPDATE ${t} SET status = 'sent', sent_at = UTC_TIMESTAMP(6) WHERE id IN (?)`,
    params: [ids],
  }),
  // Once per connection, where the relay sets it per transaction: the bare loop's best case.
  rawSessionSetup: ['SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED'],
  createOrders: (database) =>
    withMysql(async (pool) => {
      const orders = `\`${database}\`.orders`;
      await pool.query(
        `CREATE TABLE ${orders} (id BIGINT NOT NULL PRIMARY KEY, customer VARCHAR(64) NOT NULL, total INT NOT NULL) ENGINE=InnoDB`,
      );
      return orders;
    }),
  insertOrder: (orders, id) => ({
    sql: `INSERT INTO ${orders} (id, customer, total) VALUES (?, ?, ?)`,
    params: [id, 'c-42', id % 977],
  }),
  handInsert: (t, id, payload) => ({
    // The table has no defaults for its times: a hand-written INSERT names them.
    sql: `INSERT INTO ${t} (topic, \`key\`, payload, content_type, headers, available_at, created_at) VALUES (?, ?, ?, 'application/json', '{}', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))`,
    params: ['orders', String(id), payload],
  }),
};

export const benchTargets = { postgres: postgresTarget, mysql: mysqlTarget } as const;

/** The PostgreSQL URL, for messages. */
export { databaseUrl };
