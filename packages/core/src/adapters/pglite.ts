import type { Executor, QueryResult, TransactionalExecutor } from '../executor.js';

/** The part of a PGlite instance (or its transaction) that troutbox uses. */
export interface PGliteQueryable {
  query<T>(sql: string, params?: any[]): Promise<{ rows: T[]; affectedRows?: number }>;
}

/** The part of a PGlite instance that troutbox uses. `@electric-sql/pglite` is not a dependency. */
export interface PGliteLike extends PGliteQueryable {
  transaction<T>(fn: (tx: PGliteQueryable) => Promise<T>): Promise<T>;
}

function wrap(db: PGliteQueryable): Executor {
  return {
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
  return {
    query: base.query,
    transaction: <T>(fn: (tx: Executor) => Promise<T>) =>
      (db as PGliteLike).transaction((tx) => fn(wrap(tx))),
    withConnection: <T>(fn: (conn: Executor) => Promise<T>) => fn(base),
  };
}
