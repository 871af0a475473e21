import type {
  Executor,
  NotificationSubscription,
  QueryResult,
  TransactionalExecutor,
  TransactionState,
} from '../executor.js';
import { quotePg } from '../identifiers.js';

/** The part of a PGlite instance (or its transaction) that troutbox uses. */
export interface PGliteQueryable {
  query<T>(sql: string, params?: any[]): Promise<{ rows: T[]; affectedRows?: number }>;
}

/** The part of a PGlite instance that troutbox uses. `@electric-sql/pglite` is not a dependency. */
export interface PGliteLike extends PGliteQueryable {
  transaction<T>(fn: (tx: PGliteQueryable) => Promise<T>): Promise<T>;
  /** PGlite's LISTEN; when present the relay is woken by the producers' notifications. */
  listen?(channel: string, callback: (payload: string) => void): Promise<() => Promise<void>>;
}

/**
 * A PGlite transaction says when it is `closed`; the instance whether a transaction is open on
 * its one connection (`isInTransaction()`, PGlite 0.3+).
 */
function pgliteState(db: PGliteQueryable): TransactionState | undefined {
  const d = db as { closed?: unknown; isInTransaction?: () => boolean };
  // The instance has `closed` too (the database is closed), so it is told apart first.
  if (typeof d.isInTransaction === 'function') return d.isInTransaction() ? 'transaction' : 'autocommit';
  if (typeof d.closed === 'boolean') return d.closed ? 'ended' : 'transaction';
  return undefined;
}

function wrap(db: PGliteQueryable): Executor {
  return {
    transactionState: () => pgliteState(db),
    async query<Row>(sql: string, params?: readonly unknown[]): Promise<QueryResult<Row>> {
      const result = await db.query<Row>(sql, params as unknown[] | undefined);
      return { rows: result.rows, rowCount: result.affectedRows ?? result.rows.length };
    },
  };
}

/**
 * An executor on embedded PostgreSQL (PGlite). PGlite is one connection, so its transactions
 * run one at a time; a relay on it works, with `concurrency` batches queued rather than parallel.
 *
 * @example
 * ```ts
 * const db = new PGlite();
 * const executor = pglite(db);
 * await db.transaction(async (tx) => outbox.add(pglite(tx), message));
 * ```
 */
export function pglite(db: PGliteLike): TransactionalExecutor;
export function pglite(tx: PGliteQueryable): Executor;
export function pglite(db: PGliteQueryable | PGliteLike): Executor | TransactionalExecutor {
  const base = wrap(db);
  if (typeof (db as PGliteLike).transaction !== 'function') return base;
  const instance = db as PGliteLike;
  return {
    query: base.query,
    transactionState: base.transactionState!,
    transaction: <T>(fn: (tx: Executor) => Promise<T>) => instance.transaction((tx) => fn(wrap(tx))),
    withConnection: <T>(fn: (conn: Executor) => Promise<T>) => fn(base),
    ...(typeof instance.listen === 'function'
      ? {
          // PGlite is in-process: its connection is never lost, so onLost is never called.
          async listen(channel: string, onNotify: () => void): Promise<NotificationSubscription> {
            // Quoted: PGlite sends `LISTEN <channel>` as given and matches the quoted name exactly.
            const unlisten = await instance.listen!(quotePg(channel), () => onNotify());
            return { close: () => unlisten().catch(() => {}) };
          },
        }
      : {}),
  };
}
