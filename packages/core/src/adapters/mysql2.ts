import { OutboxError, transactionEnded } from '../errors.js';
import type {
  Executor,
  IsolationLevel,
  QueryResult,
  TransactionalExecutor,
  TransactionOptions,
  TransactionState,
} from '../executor.js';
import { optionNames, rejectUnknownOptions } from '../options.js';

/** The part of a mysql2 (promise API) connection that troutbox uses. `mysql2` is not a dependency. */
export interface Mysql2ConnectionLike {
  query(sql: string, values?: any): Promise<[any, any]>;
}

/** A mysql2 connection checked out of a pool. */
export interface Mysql2PoolConnectionLike extends Mysql2ConnectionLike {
  beginTransaction(): Promise<void>;
  commit(): Promise<void>;
  rollback(): Promise<void>;
  release(): void;
  destroy(): void;
  on(event: 'error', listener: (error: Error) => void): unknown;
  removeListener(event: 'error', listener: (error: Error) => void): unknown;
}

/** The part of a mysql2 promise `Pool` that troutbox uses. */
export interface Mysql2PoolLike extends Mysql2ConnectionLike {
  getConnection(): Promise<Mysql2PoolConnectionLike>;
}

/**
 * A handle of mysql2's callback API (`mysql2.createPool`, a connection of it): what Kysely's
 * `MysqlDialect` and TypeORM hold. troutbox works through its `.promise()` wrapper.
 */
export interface Mysql2CallbackLike<PromiseApi> {
  promise(): PromiseApi;
}

function promiseApi<T>(handle: T | Mysql2CallbackLike<T>): T {
  const callback = handle as Partial<Mysql2CallbackLike<T>> | null;
  return typeof callback?.promise === 'function' ? callback.promise() : (handle as T);
}

/** MySQL's SERVER_STATUS_IN_TRANS flag, sent with every OK packet. */
const SERVER_STATUS_IN_TRANS = 1;

function toResult<Row>(result: unknown): QueryResult<Row> {
  if (Array.isArray(result)) return { rows: result as Row[], rowCount: result.length };
  const header = result as { affectedRows?: number; serverStatus?: unknown };
  const out: QueryResult<Row> = { rows: [], rowCount: header?.affectedRows ?? 0 };
  if (typeof header?.serverStatus === 'number')
    out.inTransaction = (header.serverStatus & SERVER_STATUS_IN_TRANS) !== 0;
  return out;
}

function wrap(conn: Mysql2ConnectionLike, state?: () => TransactionState | undefined): Executor {
  return {
    ...(state ? { transactionState: state } : {}),
    async query<Row>(sql: string, params?: readonly unknown[]): Promise<QueryResult<Row>> {
      if (state?.() === 'ended') throw transactionEnded();
      const [result] = await conn.query(sql, params ?? []);
      return toResult<Row>(result);
    },
  };
}

/** Whether the transaction a handle was made in is over. */
interface TransactionScope {
  ended: boolean;
}

// The transaction each connection lent out by `mysql2Transaction` is in, while it lasts.
const lentConnections = new WeakMap<object, TransactionScope>();

/**
 * An executor on a mysql2 connection already inside the caller's transaction (promise or
 * callback API). Inside {@link mysql2Transaction} (the way to hold a connection for a
 * producer), it knows the transaction is open, and refuses writes once it is over.
 *
 * @example
 * ```ts
 * await mysql2Transaction(pool, async (conn) => {
 *   await conn.query('INSERT INTO orders …', […]);
 *   await outbox.add(mysql2Connection(conn), { topic: 'orders', payload: order });
 * });
 * ```
 */
export function mysql2Connection(
  conn: Mysql2ConnectionLike | Mysql2CallbackLike<Mysql2ConnectionLike>,
): Executor {
  const promised = promiseApi(conn);
  if (typeof promised?.query !== 'function') {
    throw new OutboxError('INVALID_OPTION', 'mysql2Connection needs a mysql2 connection');
  }
  // A connection lent out by mysql2Transaction is known to be in its transaction until it ends;
  // any other says so only with each result (see QueryResult.inTransaction).
  const scope = lentConnections.get(promised);
  return wrap(promised, scope ? () => (scope.ended ? 'ended' : 'transaction') : undefined);
}

/** Options of {@link mysql2Pool}. */
export interface Mysql2PoolOptions {
  /**
   * Called with connection errors that mysql2 emits as events (a server restart, a killed
   * session) on a connection troutbox has checked out.
   * @defaultValue ignore: the failed query already rejects and the relay retries.
   */
  onConnectionError?: (error: Error) => void;
}

const LEVELS: Record<IsolationLevel, string> = {
  'read committed': 'READ COMMITTED',
  'repeatable read': 'REPEATABLE READ',
  serializable: 'SERIALIZABLE',
};

const ignore = () => {};

function poolOf(handle: Mysql2PoolLike | Mysql2CallbackLike<Mysql2PoolLike>, who: string): Mysql2PoolLike {
  const pool = promiseApi(handle);
  if (typeof pool?.getConnection !== 'function' || typeof pool.query !== 'function') {
    throw new OutboxError(
      'INVALID_OPTION',
      `${who} needs a mysql2 Pool (createPool from mysql2/promise, or from mysql2)`,
    );
  }
  return pool;
}

/**
 * Check out a connection for `fn`, listening for its `error` events. It is returned to the pool
 * only when `fn` says the session is back to a known state; a connection that failed
 * mid-transaction, or whose connection broke, is destroyed instead.
 */
async function withConn<T>(
  pool: Mysql2PoolLike,
  onError: (error: Error) => void,
  fn: (conn: Mysql2PoolConnectionLike, clean: () => void) => Promise<T>,
): Promise<T> {
  const conn = await pool.getConnection();
  let broken: Error | undefined;
  const listener = (error: Error) => {
    broken = error;
    onError(error);
  };
  conn.on('error', listener);
  let reusable = false;
  try {
    return await fn(conn, () => {
      reusable = true;
    });
  } finally {
    conn.removeListener('error', listener);
    if (broken || !reusable) conn.destroy();
    else conn.release();
  }
}

function isolationLevel(opts: TransactionOptions | undefined): string | undefined {
  if (opts?.isolationLevel === undefined) return undefined;
  const level = LEVELS[opts.isolationLevel];
  if (!level)
    throw new OutboxError('INVALID_OPTION', `unknown isolation level ${JSON.stringify(opts.isolationLevel)}`);
  return level;
}

/** Begin (at `level`), `fn`, then commit, or roll back when `fn` throws; `scope.ended` once either is sent. */
async function inTransaction<T>(
  conn: Mysql2PoolConnectionLike,
  clean: () => void,
  level: string | undefined,
  fn: (scope: TransactionScope) => Promise<T>,
): Promise<T> {
  // Applies to the next transaction on this session only.
  if (level) await conn.query(`SET TRANSACTION ISOLATION LEVEL ${level}`);
  await conn.beginTransaction();
  const scope: TransactionScope = { ended: false };
  let result: T;
  try {
    result = await fn(scope);
  } catch (error) {
    // A rollback that succeeds leaves the session clean: keep it, since a business
    // rollback is routine and a new connection costs a handshake.
    scope.ended = true;
    await conn.rollback().then(clean, () => {});
    throw error;
  }
  scope.ended = true;
  await conn.commit();
  clean();
  return result;
}

/** The connection type a mysql2 pool lends (`PoolConnection` of `mysql2/promise`). */
export type Mysql2PoolConnectionOf<P> = P extends { getConnection(): Promise<infer C> }
  ? C
  : P extends { promise(): { getConnection(): Promise<infer C> } }
    ? C
    : Mysql2PoolConnectionLike;

/** Options of {@link mysql2Transaction}. */
export interface Mysql2TransactionOptions extends TransactionOptions {
  /**
   * Called with connection errors mysql2 emits as events while the connection is out (a server
   * restart, a killed session).
   * @defaultValue ignore: the transaction already fails with the error.
   */
  onConnectionError?: (error: Error) => void;
}

/**
 * Run `fn` in a transaction on a connection of `pool` (`mysql2/promise`, or a callback-API pool
 * through its `.promise()`): the producer's way to hold a mysql2 connection. Begin, then commit
 * when `fn` resolves or roll back when it throws (the error is rethrown), and the connection goes
 * back to the pool — or is destroyed when it broke (a server restart, a killed session), so the
 * next transaction gets a fresh one. `mysql2Connection(conn)` made inside `fn` knows the
 * transaction is open, and refuses writes once it is over. Do not release the connection, or
 * commit or roll back yourself.
 *
 * @example
 * ```ts
 * await mysql2Transaction(pool, async (conn) => {
 *   await conn.query('INSERT INTO orders (id, total) VALUES (?, ?)', [id, total]);
 *   await outbox.add(mysql2Connection(conn), { topic: 'orders', key: id, payload: { id, total } });
 * });
 * ```
 */
export async function mysql2Transaction<P extends Mysql2PoolLike | Mysql2CallbackLike<Mysql2PoolLike>, T>(
  pool: P,
  fn: (conn: Mysql2PoolConnectionOf<P>) => Promise<T>,
  options: Mysql2TransactionOptions = {},
): Promise<T> {
  rejectUnknownOptions('mysql2Transaction', options, optionNames.mysql2Transaction);
  const promised = poolOf(pool, 'mysql2Transaction');
  const level = isolationLevel(options);
  return withConn(promised, options.onConnectionError ?? ignore, (conn, clean) =>
    inTransaction(conn, clean, level, async (scope) => {
      lentConnections.set(conn, scope);
      try {
        return await fn(conn as Mysql2PoolConnectionOf<P>);
      } finally {
        lentConnections.delete(conn);
      }
    }),
  );
}

/**
 * A transactional executor on a mysql2 promise `Pool` (`mysql2/promise`), for the relay and the
 * admin API. Queries use the text protocol with mysql2's escaping of `?` values (no prepared
 * statement cache to grow); a connection that broke is destroyed, not returned to the pool.
 * A callback-API pool (`mysql2.createPool`, as Kysely uses) is taken through its `.promise()`.
 *
 * @example
 * ```ts
 * import mysql from 'mysql2/promise';
 * const pool = mysql.createPool({ uri: process.env.MYSQL_URL });
 * const store = new SqlMessageStore({ dialect: mysql({ database: 'app' }), db: mysql2Pool(pool) });
 * ```
 */
export function mysql2Pool(
  handle: Mysql2PoolLike | Mysql2CallbackLike<Mysql2PoolLike>,
  options: Mysql2PoolOptions = {},
): TransactionalExecutor {
  rejectUnknownOptions('mysql2Pool', options, optionNames.mysql2Pool);
  const onError = options.onConnectionError ?? ignore;
  const pool = poolOf(handle, 'mysql2Pool');

  return {
    ...wrap(pool, () => 'autocommit'),
    async transaction<T>(fn: (tx: Executor) => Promise<T>, opts?: TransactionOptions): Promise<T> {
      const level = isolationLevel(opts);
      return withConn(pool, onError, (conn, clean) =>
        inTransaction(conn, clean, level, (scope) =>
          fn(wrap(conn, () => (scope.ended ? 'ended' : 'transaction'))),
        ),
      );
    },
    withConnection<T>(fn: (conn: Executor) => Promise<T>): Promise<T> {
      return withConn(pool, onError, async (conn, clean) => {
        let released = false;
        try {
          const result = await fn(wrap(conn, () => (released ? 'ended' : undefined)));
          clean();
          return result;
        } finally {
          released = true;
        }
      });
    },
  };
}
