import pg from 'pg';
import type { Executor, MessageStore, OutboxMessage, SendContext, Sender, SendResult } from '../src/index.js';
import { pgPool, postgres, SqlMessageStore } from '../src/index.js';
import { uniqueName } from '../src/testing/index.js';

export const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** One outbox table in its own schema, on its own pool; `close()` drops the schema and ends the pool. */
export interface TestOutbox {
  readonly schema: string;
  readonly pool: pg.Pool;
  readonly store: SqlMessageStore;
  /** Run SQL on the test's pool (for assertions), with the schema on the search path. */
  sql<Row = Record<string, unknown>>(text: string, params?: unknown[]): Promise<Row[]>;
  /** Write messages in a committed transaction. */
  add(messages: Parameters<MessageStore['add']>[1]): Promise<number>;
  /** Ids of every message in the table, in id order. */
  ids(): Promise<string[]>;
  /** A second pool on the same table, as a second relay process would have. */
  newStore(poolConfig?: pg.PoolConfig): { store: SqlMessageStore; pool: pg.Pool };
  close(): Promise<void>;
}

export async function createTestOutbox(
  options: { prefix?: string; pool?: pg.PoolConfig; table?: string } = {},
): Promise<TestOutbox> {
  const schema = uniqueName(options.prefix ?? 'core');
  const dialect = postgres({ schema, ...(options.table ? { table: options.table } : {}) });
  const pools: pg.Pool[] = [];
  const makePool = (config: pg.PoolConfig = {}) => {
    const pool = new pg.Pool({ connectionString: url, max: 4, ...config });
    pools.push(pool);
    return pool;
  };
  const pool = makePool(options.pool);
  const store = new SqlMessageStore({ dialect, db: pgPool(pool) });
  await store.migrate();
  const table = dialect.tableName;
  return {
    schema,
    pool,
    store,
    async sql(text, params) {
      const { rows } = await pool.query(text.replaceAll('$table', table), params);
      return rows;
    },
    add: (messages) => store.db.transaction((tx) => store.add(tx, messages)),
    async ids() {
      const { rows } = await pool.query<{ id: string }>(`SELECT id::text AS id FROM ${table} ORDER BY id`);
      return rows.map((r) => r.id);
    },
    newStore(config) {
      const p = makePool(config);
      return { pool: p, store: new SqlMessageStore({ dialect, db: pgPool(p) }) };
    },
    async close() {
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      try {
        await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await admin.end();
      }
      await Promise.all(pools.map((p) => (p.ended ? undefined : p.end())));
    },
  };
}

/** A promise with its resolve function outside, to hold a sender (or a test) at a point. */
export interface Gate<T = void> {
  readonly promise: Promise<T>;
  open(value: T): void;
  readonly opened: boolean;
}

export function gate<T = void>(): Gate<T> {
  let open!: (value: T) => void;
  let opened = false;
  const promise = new Promise<T>((resolve) => {
    open = (value) => {
      opened = true;
      resolve(value);
    };
  });
  return {
    promise,
    open: (value: T) => open(value),
    get opened() {
      return opened;
    },
  };
}

/** Count the statements that pass through an executor. */
export function countStatements(db: Executor): Executor & { readonly statements: string[] } {
  const statements: string[] = [];
  return {
    statements,
    query: (sql, params) => {
      statements.push(sql);
      return db.query(sql, params);
    },
  };
}

/** A store that counts the claims made through it; the rest is delegated unchanged. */
export function observedStore(store: MessageStore): MessageStore & { readonly claims: number } {
  let claims = 0;
  return {
    get claims() {
      return claims;
    },
    db: store.db,
    system: store.system,
    transaction: (fn) => store.transaction(fn),
    add: (db, m) => store.add(db, m),
    claim: async (tx, limit) => {
      const batch = await store.claim(tx, limit);
      claims++;
      return batch;
    },
    complete: (tx, o) => store.complete(tx, o),
    markSent: (tx, ids) => store.markSent(tx, ids),
    markFailed: (tx, f) => store.markFailed(tx, f),
    list: (o) => store.list(o),
    deadLetters: (o) => store.deadLetters(o),
    get: (id) => store.get(id),
    requeueDead: (s) => store.requeueDead(s),
    purge: (status, s) => store.purge(status, s),
    stats: () => store.stats(),
    migrate: (o) => store.migrate(o),
  };
}

/** A sender that answers every message with `decide(message)` and records each delivery. */
export function scriptedSender(
  decide: (message: OutboxMessage, context: SendContext) => SendResult | Promise<SendResult> = () => ({
    status: 'sent',
  }),
): Sender & { readonly deliveries: OutboxMessage[]; readonly calls: number } {
  const deliveries: OutboxMessage[] = [];
  let calls = 0;
  return {
    name: 'scripted',
    deliveries,
    get calls() {
      return calls;
    },
    async send(messages, context) {
      calls++;
      deliveries.push(...messages);
      return Promise.all(messages.map((m) => decide(m, context)));
    },
  };
}

/** Messages `count` long, with `topic` and their index as payload. */
export function messages(count: number, topic = 't') {
  return Array.from({ length: count }, (_, i) => ({ topic, key: `k${i % 10}`, payload: { i } }));
}
