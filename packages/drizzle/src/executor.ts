import { type Executor, OutboxError, type QueryResult, type TransactionalExecutor } from '@troutbox/core';
import type { PgDatabase } from 'drizzle-orm/pg-core';
import { toDrizzleSql } from './sql.js';

/**
 * Any PostgreSQL drizzle database or transaction: node-postgres, postgres-js, PGlite, Neon,
 * Vercel… A `PgTransaction` is a `PgDatabase`, so a transaction fits wherever a database does.
 */
export type DrizzlePgDatabase = PgDatabase<any, any, any>;

/** Options of {@link drizzleExecutor}. */
export interface DrizzleExecutorOptions {
  /**
   * Called with connection errors that node-postgres emits as events (a server restart, a
   * terminated backend) on a client drizzle checked out for a transaction, or on the pool.
   * Without a listener such an event crashes the process; the executor adds one while each of
   * its transactions runs, and one to a node-postgres pool that has none.
   * @defaultValue ignore: the failed query already rejects and the relay retries.
   */
  onConnectionError?: (error: Error) => void;
}

// The three result shapes of `db.execute()`: node-postgres `{ rows, rowCount }`, PGlite
// `{ rows, affectedRows }`, postgres-js an array of rows with `count`.
export function normaliseResult<Row>(result: unknown): QueryResult<Row> {
  if (Array.isArray(result)) {
    const count = (result as { count?: unknown }).count;
    return { rows: result as Row[], rowCount: typeof count === 'number' ? count : result.length };
  }
  const r = (result ?? {}) as { rows?: Row[]; rowCount?: number | null; affectedRows?: number };
  const rows = Array.isArray(r.rows) ? r.rows : [];
  return { rows, rowCount: r.rowCount ?? r.affectedRows ?? rows.length };
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

/** Run core statements on a drizzle database or transaction. */
export function drizzleQuery(db: DrizzlePgDatabase): Executor['query'] {
  assertDatabase(db);
  return async <Row>(text: string, params: readonly unknown[] = []): Promise<QueryResult<Row>> => {
    try {
      return normaliseResult<Row>(await db.execute(toDrizzleSql({ sql: text, params })));
    } catch (error) {
      throw unwrap(error);
    }
  };
}

function assertDatabase(db: unknown): asserts db is DrizzlePgDatabase {
  const d = db as Partial<DrizzlePgDatabase> | null | undefined;
  if (typeof d?.execute !== 'function' || typeof d.transaction !== 'function') {
    throw new OutboxError(
      'INVALID_OPTION',
      'expected a drizzle PostgreSQL database or transaction (drizzle(pool), or the tx of db.transaction)',
    );
  }
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

// drizzle's node-postgres driver checks a client out of the pool for each transaction and adds
// no `error` listener to it. A checked-out client whose connection the server ends emits
// `error`, and with no listener Node crashes the process. Other drivers hold no such object.
function checkedOutClient(tx: DrizzlePgDatabase): EventSource | undefined {
  const client = (tx as { _?: { session?: { client?: unknown } } })._?.session?.client;
  return isEventSource(client) && typeof (client as { release?: unknown }).release === 'function'
    ? client
    : undefined;
}

/**
 * A core `TransactionalExecutor` over a drizzle PostgreSQL database, for the relay, the admin
 * API and `SqlMessageStore`. Queries run through `db.execute()` with bound parameters, and
 * transactions through `db.transaction()`, on any driver.
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
 */
export function drizzleExecutor(
  db: DrizzlePgDatabase,
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

  return {
    query,
    async transaction<T>(fn: (tx: Executor) => Promise<T>): Promise<T> {
      let client: EventSource | undefined;
      const listener = (error: Error) => onError(error);
      try {
        return await db.transaction(async (tx) => {
          client = checkedOutClient(tx);
          client?.on('error', listener);
          return fn({ query: drizzleQuery(tx) });
        });
      } catch (error) {
        throw unwrap(error);
      } finally {
        // Kept until drizzle's COMMIT or ROLLBACK is over, which can meet the broken connection too.
        client?.removeListener('error', listener);
      }
    },
  };
}
