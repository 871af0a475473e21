import type {
  Dialect,
  Executor,
  MessageStore,
  OutboxMessage,
  SendContext,
  Sender,
  SendResult,
} from '../src/index.js';
import { SqlMessageStore } from '../src/index.js';
import { uniqueName } from '../src/testing/index.js';
import type { DialectOptions, PoolOptions, TestDatabase, TestPool } from './databases.js';

export { databases, type TestDatabase, type TestPool } from './databases.js';

/** One outbox table in its own schema (database on MySQL), on its own pool; `close()` drops it all. */
export interface TestOutbox {
  readonly database: TestDatabase;
  /** The schema (PostgreSQL) or database (MySQL) of the table. */
  readonly namespace: string;
  readonly dialect: Dialect;
  readonly pool: TestPool;
  readonly store: SqlMessageStore;
  /** Run SQL (`?` placeholders, `$table` for the outbox table) on the test's pool. */
  sql<Row = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<Row[]>;
  /** Rows of the outbox table, optionally `WHERE <where>`. */
  count(where?: string, params?: readonly unknown[]): Promise<number>;
  /** Write messages in a committed transaction. */
  add(messages: Parameters<MessageStore['add']>[1]): Promise<number>;
  /** Ids of every message in the table, in id order. */
  ids(where?: string): Promise<string[]>;
  /** The database's clock, in ms. */
  now(): Promise<number>;
  /** A store on another pool on the same table, as a second relay process would have. */
  newStore(options?: PoolOptions): { store: SqlMessageStore; pool: TestPool };
  /** A store on the test's pool for another table in the same namespace (not migrated). */
  storeFor(table: string): SqlMessageStore;
  close(): Promise<void>;
}

export async function createTestOutbox(
  database: TestDatabase,
  options: { prefix?: string; pool?: PoolOptions; table?: string; dialect?: DialectOptions } = {},
): Promise<TestOutbox> {
  const namespace = uniqueName(options.prefix ?? 'core');
  const dialect = database.dialect(namespace, options.table, options.dialect);
  const pools: TestPool[] = [];
  const connect = (config?: PoolOptions) => {
    const p = database.connect({ connections: 4, ...config });
    pools.push(p);
    return p;
  };
  const pool = connect(options.pool);
  const store = new SqlMessageStore({ dialect, db: pool.db });
  await store.migrate();
  const sql: TestOutbox['sql'] = (text, params) =>
    pool.sql(text.replaceAll('$table', dialect.tableName), params);
  return {
    database,
    namespace,
    dialect,
    pool,
    store,
    sql,
    async count(where, params) {
      const [row] = await sql<{ n: unknown }>(
        `SELECT COUNT(*) AS n FROM $table${where ? ` WHERE ${where}` : ''}`,
        params,
      );
      return Number(row!.n);
    },
    add: (messages) => store.db.transaction((tx) => store.add(tx, messages)),
    async ids(where) {
      const rows = await sql<{ id: unknown }>(
        `SELECT id FROM $table${where ? ` WHERE ${where}` : ''} ORDER BY id`,
      );
      return rows.map((r) => String(r.id));
    },
    now: () => database.now(pool),
    newStore(config) {
      const p = connect(config);
      return { pool: p, store: new SqlMessageStore({ dialect, db: p.db }) };
    },
    storeFor: (table) =>
      new SqlMessageStore({ dialect: database.dialect(namespace, table, options.dialect), db: pool.db }),
    async close() {
      // Pools first: on MySQL a session still holding a table's metadata lock would block the drop.
      await Promise.all(pools.map((p) => p.end()));
      const admin = database.connect({ connections: 1 });
      try {
        await database.dropNamespace(admin, namespace);
      } finally {
        await admin.end();
      }
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
    ...(store.ordering === undefined ? {} : { ordering: store.ordering }),
    ...(store.channel === undefined ? {} : { channel: store.channel }),
    ...(store.listen ? { listen: store.listen.bind(store) } : {}),
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

/** `promise`, or a rejection if it has not settled within `ms` (a deadline, not a wait). */
export async function withinDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
