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

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/**
 * A Date as PostgreSQL's own timestamp text. PGlite sends a Date as `toISOString()`, which
 * PostgreSQL cannot read outside the years 1–9999 (`+012000-01-01T…`, `-000001-…`), while
 * timestamptz reaches 4713 BC: an `availableAt` the dialect accepts must reach the column.
 */
function pgTimestamp(date: Date): string {
  const year = date.getUTCFullYear();
  const time = `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}.${pad(date.getUTCMilliseconds(), 3)}`;
  // Year 0 is 1 BC: PostgreSQL counts no year zero.
  const shown = year > 0 ? pad(year, 4) : pad(1 - year, 4);
  return `${shown}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())} ${time}+00${year > 0 ? '' : ' BC'}`;
}

function toParam(value: unknown): unknown {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) return value;
  const year = value.getUTCFullYear();
  return year >= 1 && year <= 9999 ? value : pgTimestamp(value);
}

function wrap(db: PGliteQueryable): Executor {
  return {
    transactionState: () => pgliteState(db),
    async query<Row>(sql: string, params?: readonly unknown[]): Promise<QueryResult<Row>> {
      const result = await db.query<Row>(sql, params?.map(toParam));
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
