// The databases every core test runs on. A test is written once against `TestDatabase` and run
// with `describe.each(databases)`; what differs between PostgreSQL and MariaDB/MySQL (pools,
// placeholders, killing a connection, clocks, catalogs) lives here, in one entry per database.
// No vitest import: the crash test's child process loads this file too.
import mysqlDriver from 'mysql2/promise';
import pg from 'pg';
import type { Dialect, Executor, TransactionalExecutor } from '../src/index.js';
import { mysql, mysql2Connection, mysql2Pool, pgClient, pgPool, postgres } from '../src/index.js';
import { uniqueName } from '../src/testing/index.js';

export const pgUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const mysqlUrl = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';

/** Dialect options every database has. */
export interface DialectOptions {
  ordering?: 'none' | 'key';
}

/** How a test wants its pool. */
export interface PoolOptions {
  /** Connections in the pool. @defaultValue 4 */
  connections?: number;
  /**
   * A session and driver time zone other than UTC (`'+05:00'`), to prove that stored times do
   * not shift with it. @defaultValue the server's and driver's defaults
   */
  timeZone?: string;
}

/** A transaction opened the driver's own way, as application code would hold it. */
export interface OpenTransaction {
  /** troutbox's executor on the transaction's connection (`pgClient`, `mysql2Connection`). */
  readonly executor: Executor;
  commit(): Promise<void>;
  rollback(): Promise<void>;
}

/** A driver pool, seen through what the tests need. */
export interface TestPool {
  /** The pool as troutbox's transactional executor (`pgPool`, `mysql2Pool`). */
  readonly db: TransactionalExecutor;
  /** The driver's own pool object. */
  readonly driver: unknown;
  /** Run SQL written with `?` placeholders (numbered for PostgreSQL) and return its rows. */
  sql<Row = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<Row[]>;
  /** Open a transaction on one connection; `observe` sees each statement the driver receives. */
  begin(observe?: (sql: string) => void): Promise<OpenTransaction>;
  /**
   * Terminate every server session of this pool from another connection, as an operator or a
   * failover would, and wait until the server has ended them. Returns how many were ended.
   */
  terminateConnections(): Promise<number>;
  end(): Promise<void>;
}

/** A database server the core suites run on. */
export interface TestDatabase {
  /** The dialect's name: `postgres` or `mysql`. */
  readonly name: 'postgres' | 'mysql';
  readonly label: string;
  /** OpenTelemetry `db.system` of the store. */
  readonly otelSystem: string;
  /** What the dialect calls its namespace option (`schema`, `database`), and its length limit. */
  readonly namespaceOption: 'schema' | 'database';
  readonly maxNamespaceLength: number;
  /** The name of the index the claim query should walk. */
  readonly claimIndex: string;
  dialect(namespace: string, table?: string, options?: DialectOptions): Dialect;
  /** `namespace.table`, quoted as the dialect quotes it. */
  qualify(namespace: string, table: string): string;
  connect(options?: PoolOptions): TestPool;
  createNamespace(pool: TestPool, namespace: string): Promise<void>;
  dropNamespace(pool: TestPool, namespace: string): Promise<void>;
  tableExists(pool: TestPool, namespace: string, table: string): Promise<boolean>;
  /** The server's id of the session `executor` runs on. */
  sessionId(executor: Executor): Promise<string>;
  /** The database clock, in ms since the epoch. */
  now(pool: TestPool): Promise<number>;
  /**
   * The plan of `dialect`'s claim query (steered off tiny-table scans): its text, the indexes
   * it reads, and whether it sorts.
   */
  explainClaim(
    pool: TestPool,
    dialect: Dialect,
  ): Promise<{ plan: string; indexes: string[]; sorts: boolean }>;
  /**
   * A login that may do anything inside `namespace` (created for it) and nothing else: no right
   * to create schemas or databases. `drop()` removes the login.
   */
  restrictedLogin(
    admin: TestPool,
    namespace: string,
  ): Promise<{ pool: TestPool; canCreateNamespaces(): Promise<boolean>; drop(): Promise<void> }>;
}

function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

function connectPg(options: PoolOptions & { url?: string } = {}): TestPool {
  // The application name marks this pool's sessions in pg_stat_activity.
  const applicationName = uniqueName('pool');
  const pool = new pg.Pool({
    connectionString: options.url ?? pgUrl,
    max: options.connections ?? 4,
    application_name: applicationName,
    ...(options.timeZone ? { options: `-c TimeZone=${options.timeZone}` } : {}),
  });
  pool.on('error', () => {});
  const db = pgPool(pool);
  return {
    db,
    driver: pool,
    async sql(text, params) {
      const { rows } = await pool.query(numbered(text), params as unknown[]);
      return rows;
    },
    async begin(observe) {
      const client = await pool.connect();
      const query = client.query.bind(client) as (t: string, v?: unknown[]) => Promise<pg.QueryResult>;
      const observed = {
        query: (text: string, values?: unknown[]) => {
          observe?.(text);
          return query(text, values);
        },
      };
      await client.query('BEGIN');
      const end = async (sql: string) => {
        try {
          await client.query(sql);
        } finally {
          client.release();
        }
      };
      return { executor: pgClient(observed), commit: () => end('COMMIT'), rollback: () => end('ROLLBACK') };
    },
    async terminateConnections() {
      const admin = new pg.Client({ connectionString: pgUrl });
      await admin.connect();
      try {
        const { rows } = await admin.query<{ killed: boolean }>(
          'SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity WHERE application_name = $1',
          [applicationName],
        );
        for (;;) {
          const { rowCount } = await admin.query(
            'SELECT 1 FROM pg_stat_activity WHERE application_name = $1',
            [applicationName],
          );
          if (rowCount === 0) break;
          await new Promise((r) => setTimeout(r, 10));
        }
        return rows.filter((r) => r.killed).length;
      } finally {
        await admin.end();
      }
    },
    end: () => (pool.ended ? Promise.resolve() : pool.end()),
  };
}

function connectMysql(options: PoolOptions & { user?: string; database?: string } = {}): TestPool {
  const pool = mysqlDriver.createPool({
    uri: mysqlUrl,
    ...(options.user ? { user: options.user } : {}),
    ...(options.database ? { database: options.database } : {}),
    connectionLimit: options.connections ?? 4,
    ...(options.timeZone ? { timezone: options.timeZone } : {}),
  });
  // MariaDB shows no connection attributes without performance_schema, so the pool remembers
  // the server thread id of every connection it opens, to find its sessions in PROCESSLIST.
  const threads = new Set<number>();
  pool.on('connection', (conn) => {
    threads.add(conn.threadId);
    // The session zone too: SQL that used NOW() instead of UTC_TIMESTAMP() would shift.
    if (options.timeZone) conn.query('SET time_zone = ?', [options.timeZone]);
  });
  const db = mysql2Pool(pool);
  let ended = false;
  return {
    db,
    driver: pool,
    async sql(text, params) {
      const [rows] = await pool.query(text, (params ?? []) as unknown[] as mysqlDriver.QueryValues);
      return rows as never[];
    },
    async begin(observe) {
      const conn = await pool.getConnection();
      const observed = {
        query: (sql: string, values?: mysqlDriver.QueryValues) => {
          observe?.(sql);
          return conn.query(sql, values);
        },
      };
      await conn.beginTransaction();
      const end = async (fn: () => Promise<void>) => {
        try {
          await fn();
        } finally {
          conn.release();
        }
      };
      return {
        executor: mysql2Connection(observed),
        commit: () => end(() => conn.commit()),
        rollback: () => end(() => conn.rollback()),
      };
    },
    async terminateConnections() {
      const admin = await mysqlDriver.createConnection({ uri: mysqlUrl });
      try {
        const live = async () => {
          const [rows] = await admin.query('SELECT ID AS id FROM information_schema.PROCESSLIST');
          return (rows as { id: number }[]).map((r) => Number(r.id)).filter((id) => threads.has(id));
        };
        const ids = await live();
        for (const id of ids) await admin.query(`KILL CONNECTION ${Number(id)}`);
        while ((await live()).length > 0) await new Promise((r) => setTimeout(r, 10));
        return ids.length;
      } finally {
        await admin.end();
      }
    },
    async end() {
      if (ended) return;
      ended = true;
      await pool.end();
    },
  };
}

const postgresDatabase: TestDatabase = {
  name: 'postgres',
  label: 'PostgreSQL',
  otelSystem: 'postgresql',
  namespaceOption: 'schema',
  maxNamespaceLength: 48,
  claimIndex: 'outbox_messages_pending_idx',
  dialect: (schema, table, options) =>
    postgres({ schema, ...(table === undefined ? {} : { table }), ...options }),
  qualify: (schema, table) => `"${schema}"."${table}"`,
  connect: (options) => connectPg(options),
  async createNamespace(pool, schema) {
    await pool.sql(`CREATE SCHEMA "${schema}"`);
  },
  async dropNamespace(pool, schema) {
    await pool.sql(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  },
  async tableExists(pool, schema, table) {
    const [row] = await pool.sql<{ t: string | null }>('SELECT to_regclass(?)::text AS t', [
      `"${schema}"."${table}"`,
    ]);
    return row!.t !== null;
  },
  async sessionId(executor) {
    const { rows } = await executor.query<{ id: number }>('SELECT pg_backend_pid() AS id');
    return String(rows[0]!.id);
  },
  async now(pool) {
    const [row] = await pool.sql<{ now: Date }>('SELECT clock_timestamp() AS now');
    return row!.now.getTime();
  },
  async explainClaim(pool, dialect) {
    const plan = await pool.db.transaction(async (tx) => {
      // The table is tiny: without this the planner rightly prefers a sequential scan.
      await tx.query('SET LOCAL enable_seqscan = off');
      const { sql, params } = dialect.claim(500);
      const { rows } = await tx.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, params);
      return rows.map((r) => r['QUERY PLAN']).join('\n');
    });
    return {
      plan,
      indexes: [...plan.matchAll(/ using (\w+)/g)].map((m) => m[1]!),
      sorts: /\bSort\b/.test(plan),
    };
  },
  async restrictedLogin(admin, schema) {
    const role = uniqueName('role');
    await admin.sql(`CREATE ROLE "${role}" LOGIN`);
    await admin.sql(`CREATE SCHEMA "${schema}" AUTHORIZATION "${role}"`);
    // In node-postgres the connection string wins over separate fields: put the role in it.
    const url = new URL(pgUrl);
    url.username = role;
    const pool = connectPg({ url: url.toString(), connections: 2 });
    return {
      pool,
      async canCreateNamespaces() {
        const [row] = await pool.sql<{ can: boolean }>(
          "SELECT has_database_privilege(current_user, current_database(), 'CREATE') AS can",
        );
        return row!.can;
      },
      async drop() {
        await pool.end();
        await admin.sql(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await admin.sql(`DROP ROLE IF EXISTS "${role}"`);
      },
    };
  },
};

const mysqlDatabase: TestDatabase = {
  name: 'mysql',
  label: 'MariaDB',
  otelSystem: 'mysql',
  namespaceOption: 'database',
  maxNamespaceLength: 64,
  claimIndex: 'outbox_messages_claim_idx',
  dialect: (database, table, options) =>
    mysql({ database, ...(table === undefined ? {} : { table }), ...options }),
  qualify: (database, table) => `\`${database}\`.\`${table}\``,
  connect: (options) => connectMysql(options),
  async createNamespace(pool, database) {
    await pool.sql(`CREATE DATABASE \`${database}\``);
  },
  async dropNamespace(pool, database) {
    await pool.sql(`DROP DATABASE IF EXISTS \`${database}\``);
  },
  async tableExists(pool, database, table) {
    const rows = await pool.sql(
      'SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?',
      [database, table],
    );
    return rows.length > 0;
  },
  async sessionId(executor) {
    const { rows } = await executor.query<{ id: number }>('SELECT CONNECTION_ID() AS id');
    return String(rows[0]!.id);
  },
  async now(pool) {
    // Read as text: no driver or session time zone can shift it.
    const [row] = await pool.sql<{ now: string }>(
      "SELECT DATE_FORMAT(UTC_TIMESTAMP(6), '%Y-%m-%dT%H:%i:%s.%fZ') AS now",
    );
    return new Date(row!.now).getTime();
  },
  async explainClaim(pool, dialect) {
    const { sql, params } = dialect.claim(500);
    const rows = await pool.sql<{ key: string | null; Extra: string | null }>(`EXPLAIN ${sql}`, params);
    return {
      plan: rows.map((r) => JSON.stringify(r)).join('\n'),
      indexes: rows.flatMap((r) => (r.key ? [r.key] : [])),
      sorts: rows.some((r) => r.Extra?.includes('filesort')),
    };
  },
  async restrictedLogin(admin, database) {
    const user = uniqueName('user');
    // Both host forms: MariaDB's anonymous ''@'localhost' would otherwise win over 'user'@'%'.
    const hosts = ['localhost', '127.0.0.1'];
    for (const host of hosts) await admin.sql(`CREATE USER '${user}'@'${host}'`);
    await admin.sql(`CREATE DATABASE \`${database}\``);
    for (const host of hosts) await admin.sql(`GRANT ALL ON \`${database}\`.* TO '${user}'@'${host}'`);
    const pool = connectMysql({ user, database, connections: 2 });
    return {
      pool,
      async canCreateNamespaces() {
        const rows = await pool.sql(
          "SELECT 1 FROM information_schema.USER_PRIVILEGES WHERE PRIVILEGE_TYPE = 'CREATE'",
        );
        return rows.length > 0;
      },
      async drop() {
        await pool.end();
        await admin.sql(`DROP DATABASE IF EXISTS \`${database}\``);
        for (const host of hosts) await admin.sql(`DROP USER IF EXISTS '${user}'@'${host}'`);
      },
    };
  },
};

/** Every database the core suites run on. */
export const databases: readonly TestDatabase[] = [postgresDatabase, mysqlDatabase];

export function databaseNamed(name: string): TestDatabase {
  const database = databases.find((d) => d.name === name);
  if (!database) throw new Error(`no test database named ${name}`);
  return database;
}
