import type { Executor, QueryResult, TransactionalExecutor, TransactionOptions } from '@troutbox/core';
import {
  type DrizzleDatabase,
  type DrizzleMySqlDatabase,
  type DrizzlePgDatabase,
  drizzleDialectOf,
} from './dialect.js';
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

// drizzle checks a connection out of the pool for each transaction (node-postgres, mysql2) and
// adds no `error` listener to it. A checked-out node-postgres client whose connection the server
// ends emits `error`, and with no listener Node crashes the process; a mysql2 pool connection
// has the pool's own listener. Either way the error is reported. Other drivers hold no such
// object.
function checkedOutClient(tx: DrizzleDatabase): EventSource | undefined {
  const t = tx as { session?: { client?: unknown }; _?: { session?: { client?: unknown } } };
  const client = t.session?.client ?? t._?.session?.client;
  return isEventSource(client) && typeof (client as { release?: unknown }).release === 'function'
    ? client
    : undefined;
}

// Both database classes have `transaction(fn, config)`; TypeScript cannot call it on their union.
type RunTransaction = <T>(
  fn: (tx: DrizzleDatabase) => Promise<T>,
  config?: { isolationLevel: NonNullable<TransactionOptions['isolationLevel']> },
) => Promise<T>;

/**
 * A core `TransactionalExecutor` over a drizzle database, for the relay, the admin API and
 * `SqlMessageStore`: PostgreSQL (node-postgres, postgres-js, PGlite…) or MySQL/MariaDB (mysql2).
 * Queries run through `db.execute()` with bound parameters, and transactions through
 * `db.transaction()` at the isolation level core asks for (READ COMMITTED for the relay on
 * MySQL), on any driver.
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
  const query = drizzleQuery(db);
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
  const run = (db.transaction as RunTransaction).bind(db);

  return {
    query,
    async transaction<T>(fn: (tx: Executor) => Promise<T>, opts?: TransactionOptions): Promise<T> {
      let client: EventSource | undefined;
      const listener = (error: Error) => onError(error);
      // drizzle's transaction config takes the same level names as core's.
      const config = opts?.isolationLevel ? { isolationLevel: opts.isolationLevel } : undefined;
      try {
        return await run(async (tx) => {
          client = checkedOutClient(tx);
          client?.on('error', listener);
          return fn({ query: drizzleQuery(tx) });
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
