import {
  type Executor,
  OutboxError,
  type QueryResult,
  type TransactionalExecutor,
  type TransactionOptions,
  type TransactionState,
} from '@troutbox/core';
import {
  type DrizzleDatabase,
  type DrizzleMySqlDatabase,
  type DrizzlePgDatabase,
  drizzleDialectOf,
  isDrizzleTransaction,
} from './dialect.js';
import { checkOptionNames } from './options.js';
import { toDrizzleSql } from './sql.js';

/** Options of {@link drizzleExecutor}. */
export interface DrizzleExecutorOptions {
  /**
   * Called with connection errors that node-postgres and mysql2 emit as events (a server
   * restart, a terminated session) on a connection drizzle checked out for a transaction, or on
   * a node-postgres pool. Without a listener such an event crashes the process on node-postgres;
   * the executor adds one while each of its transactions runs, and one to a node-postgres pool
   * that has none.
   * @defaultValue ignore: the failed query already rejects and the relay retries.
   */
  onConnectionError?: (error: Error) => void;
}

// drizzle wraps driver errors in a DrizzleQueryError whose message carries the SQL and every
// parameter (whole payloads, for a bulk insert). Rethrow the driver's own error, with its
// SQLSTATE `code`, as core's node-postgres and PGlite executors do.
function unwrap(error: unknown): unknown {
  if (
    error instanceof Error &&
    'query' in error &&
    'params' in error &&
    error.cause !== undefined &&
    error.message.startsWith('Failed query')
  ) {
    return error.cause;
  }
  return error;
}

/** Run core statements on a drizzle database or transaction, with its database's placeholders. */
export function drizzleQuery(db: DrizzleDatabase): Executor['query'] {
  const { placeholders, result } = drizzleDialectOf(db);
  // Both database classes have `execute(sql)`; TypeScript cannot call it on their union.
  const execute = (db as { execute(query: unknown): Promise<unknown> }).execute.bind(db);
  return async <Row>(text: string, params: readonly unknown[] = []): Promise<QueryResult<Row>> => {
    try {
      return result<Row>(await execute(toDrizzleSql({ sql: text, params }, placeholders)));
    } catch (error) {
      throw unwrap(error);
    }
  };
}

interface EventSource {
  on(event: 'error', listener: (error: Error) => void): unknown;
  removeListener(event: 'error', listener: (error: Error) => void): unknown;
  listenerCount?(event: 'error'): number;
}

function isEventSource(value: unknown): value is EventSource {
  const v = value as Partial<EventSource> | null | undefined;
  return typeof v?.on === 'function' && typeof v.removeListener === 'function';
}

/** The driver's connection (or transaction object) a drizzle handle runs on: `session.client`. */
function sessionClient(db: DrizzleDatabase): unknown {
  const d = db as { session?: { client?: unknown }; _?: { session?: { client?: unknown } } };
  return d.session?.client ?? d._?.session?.client;
}

// drizzle checks a connection out of the pool for each transaction (node-postgres, mysql2) and
// adds no `error` listener to it. A checked-out node-postgres client whose connection the server
// ends emits `error`, and with no listener Node crashes the process; a mysql2 pool connection
// has the pool's own listener. Either way the error is reported. Other drivers hold no such
// object.
function checkedOutClient(tx: DrizzleDatabase): EventSource | undefined {
  const client = sessionClient(tx);
  return isEventSource(client) && typeof (client as { release?: unknown }).release === 'function'
    ? client
    : undefined;
}

// How a drizzle `tx` is known to have ended. drizzle's transaction objects keep no state of
// their own: after the callback, drizzle sends COMMIT (or ROLLBACK) through the tx and gives a
// pooled connection back, and the tx object still works, in autocommit or in whatever
// transaction that connection serves next. Nothing sees a user's `db.transaction(cb)` start
// (drizzleExecutor's own transactions are tracked exactly, below), so the state is read from the
// driver's connection, which is where drizzle's session keeps it:
// - PGlite runs drizzle's transaction in a `Transaction` of its own that says when it is
//   `closed`.
// - node-postgres says whether the connection is in a transaction
//   (`client.getTransactionStatus()`): idle means the transaction drizzle began has ended. A pool
//   client may since have been checked out again, into someone else's transaction: pg-pool gives
//   each checkout a new `release` function, so the one a tx was first seen with tells.
// - mysql2's pool connection says when it is back in the pool (`_released`), but not when the
//   pool has handed it out again. The promise wrapper drizzle checked out for the transaction is
//   its own object, and drizzle calls its `release()` once the transaction is over: the first
//   time a tx is seen, that wrapper's releases start being counted (a wrapper that calls the
//   original), and a count that moved means the transaction ended.
// A tx first seen after its transaction ended, whose connection already serves another
// transaction, cannot be told apart on node-postgres and mysql2; nor can any ended tx on
// postgres-js (whose transaction function keeps no state) or on one mysql2 connection shared by
// every transaction: those read as 'transaction'.
const pgCheckoutSeen = new WeakMap<object, unknown>();
const mysqlReleasesSeen = new WeakMap<object, number>();
const mysqlReleaseCounts = new WeakMap<object, { count: number }>();

interface DriverConnection {
  closed?: unknown;
  isInTransaction?: unknown;
  getTransactionStatus?: () => unknown;
  release?: (...args: unknown[]) => unknown;
  connection?: { _released?: unknown } | null;
}

function releaseCount(conn: DriverConnection & { release: (...args: unknown[]) => unknown }) {
  let counter = mysqlReleaseCounts.get(conn);
  if (counter === undefined) {
    const c = { count: 0 };
    const release = conn.release;
    conn.release = function (this: unknown, ...args: unknown[]) {
      c.count++;
      return release.apply(this, args);
    };
    mysqlReleaseCounts.set(conn, c);
    counter = c;
  }
  return counter;
}

function transactionHandleState(tx: DrizzleDatabase): TransactionState {
  const client = sessionClient(tx) as DriverConnection | null | undefined;
  if ((typeof client !== 'object' && typeof client !== 'function') || client === null) return 'transaction';
  // PGlite's Transaction (its instance, which has `isInTransaction`, is no transaction's).
  if (typeof client.closed === 'boolean' && typeof client.isInTransaction !== 'function') {
    return client.closed ? 'ended' : 'transaction';
  }
  if (typeof client.getTransactionStatus === 'function') {
    if (client.getTransactionStatus() === 'I') return 'ended';
    if (typeof client.release === 'function') {
      const seen = pgCheckoutSeen.get(tx);
      if (seen === undefined) pgCheckoutSeen.set(tx, client.release);
      else if (seen !== client.release) return 'ended';
    }
    return 'transaction';
  }
  if (
    typeof client.connection === 'object' &&
    client.connection !== null &&
    typeof client.release === 'function'
  ) {
    if (client.connection._released === true) return 'ended';
    const { count } = releaseCount(client as DriverConnection & { release: (...args: unknown[]) => unknown });
    const seen = mysqlReleasesSeen.get(tx);
    if (seen === undefined) mysqlReleasesSeen.set(tx, count);
    else if (seen !== count) return 'ended';
  }
  return 'transaction';
}

/**
 * Where a drizzle database or transaction stands (see core's `Executor.transactionState`): a
 * root database is `autocommit`; the `tx` of `db.transaction(cb)` is `transaction` until its
 * transaction commits or rolls back, then `ended` where the driver lets it be seen.
 */
export function drizzleTransactionState(db: DrizzleDatabase): TransactionState {
  return isDrizzleTransaction(db) ? transactionHandleState(db) : 'autocommit';
}

// Both database classes have `transaction(fn, config)`; TypeScript cannot call it on their union.
type RunTransaction = <T>(
  fn: (tx: DrizzleDatabase) => Promise<T>,
  config?: { isolationLevel: NonNullable<TransactionOptions['isolationLevel']> },
) => Promise<T>;

/**
 * The executor troutbox writes with on a drizzle database or transaction: its state read from
 * drizzle and the driver, and `transaction()` through drizzle's (a savepoint on a `tx`). Each
 * handle given to `fn` is `transaction` while `fn` runs and `ended` from then on.
 */
export function drizzleTransactional(
  db: DrizzleDatabase,
  onError: (error: Error) => void = () => {},
): TransactionalExecutor {
  const query = drizzleQuery(db);
  const run = (db.transaction as RunTransaction).bind(db);
  const transactionState = isDrizzleTransaction(db)
    ? () => transactionHandleState(db)
    : (): TransactionState => 'autocommit';
  return {
    query,
    transactionState,
    async transaction<T>(fn: (tx: Executor) => Promise<T>, opts?: TransactionOptions): Promise<T> {
      let client: EventSource | undefined;
      const listener = (error: Error) => onError(error);
      // drizzle's transaction config takes the same level names as core's.
      const config = opts?.isolationLevel ? { isolationLevel: opts.isolationLevel } : undefined;
      try {
        return await run(async (tx) => {
          client = checkedOutClient(tx);
          client?.on('error', listener);
          // Ended as soon as `fn` is done, before drizzle's COMMIT or ROLLBACK: a write that
          // comes later through this handle has no transaction to go in.
          let ended = false;
          try {
            return await fn({
              query: drizzleQuery(tx),
              transactionState: () => (ended ? 'ended' : 'transaction'),
            });
          } finally {
            ended = true;
          }
        }, config);
      } catch (error) {
        throw unwrap(error);
      } finally {
        // Kept until drizzle's COMMIT or ROLLBACK is over, which can meet the broken connection too.
        client?.removeListener('error', listener);
      }
    },
  };
}

/**
 * A core `TransactionalExecutor` over a drizzle database, for the relay, the admin API and
 * `SqlMessageStore`: PostgreSQL (node-postgres, postgres-js, PGlite…) or MySQL/MariaDB (mysql2).
 * Queries run through `db.execute()` with bound parameters, and transactions through
 * `db.transaction()` at the isolation level core asks for (READ COMMITTED for the relay on
 * MySQL), on any driver.
 *
 * It reports where it stands (`transactionState`), so core refuses writes outside a transaction
 * before any SQL: over a root database it is `autocommit` (a `SqlMessageStore` writes through it
 * only with `autocommit: true`), the handles its `transaction(fn)` gives are `transaction` until
 * `fn` is done and `ended` after, and over a drizzle `tx` it reads that transaction's state.
 *
 * Unknown option names are an `INVALID_OPTION` error.
 *
 * @example
 * ```ts
 * import { drizzle } from 'drizzle-orm/node-postgres';
 * import { createRelay, postgres, SqlMessageStore } from '@troutbox/core';
 * import { drizzleExecutor } from '@troutbox/drizzle';
 *
 * const db = drizzle(process.env.DATABASE_URL!);
 * const store = new SqlMessageStore({ dialect: postgres(), db: drizzleExecutor(db) });
 * const relay = createRelay({ store, sender });
 * await relay.start();
 * ```
 *
 * @example
 * ```ts
 * // MySQL or MariaDB
 * import { drizzle } from 'drizzle-orm/mysql2';
 * const db = drizzle(process.env.DATABASE_URL!);
 * const store = new SqlMessageStore({ dialect: mysql(), db: drizzleExecutor(db) });
 * ```
 */
export function drizzleExecutor(
  db: DrizzlePgDatabase,
  options?: DrizzleExecutorOptions,
): TransactionalExecutor;
export function drizzleExecutor(
  db: DrizzleMySqlDatabase,
  options?: DrizzleExecutorOptions,
): TransactionalExecutor;
export function drizzleExecutor(
  db: DrizzleDatabase,
  options: DrizzleExecutorOptions = {},
): TransactionalExecutor {
  checkOptionNames('drizzleExecutor', options, ['onConnectionError']);
  if (options.onConnectionError !== undefined && typeof options.onConnectionError !== 'function') {
    throw new OutboxError('INVALID_OPTION', 'drizzleExecutor: onConnectionError must be a function');
  }
  drizzleDialectOf(db);
  const onError = options.onConnectionError ?? (() => {});
  const pool = (db as { $client?: unknown }).$client;
  if (
    isEventSource(pool) &&
    typeof (pool as { connect?: unknown }).connect === 'function' &&
    typeof pool.listenerCount === 'function' &&
    pool.listenerCount('error') === 0
  ) {
    pool.on('error', (error) => onError(error));
  }
  return drizzleTransactional(db, onError);
}
