import { OutboxError } from '../errors.js';
import type { Executor, IsolationLevel, QueryResult, TransactionalExecutor } from '../executor.js';

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

function toResult<Row>(result: unknown): QueryResult<Row> {
  if (Array.isArray(result)) return { rows: result as Row[], rowCount: result.length };
  const header = result as { affectedRows?: number };
  return { rows: [], rowCount: header?.affectedRows ?? 0 };
}

function wrap(conn: Mysql2ConnectionLike): Executor {
  return {
    async query<Row>(sql: string, params?: readonly unknown[]): Promise<QueryResult<Row>> {
      const [result] = await conn.query(sql, params ?? []);
      return toResult<Row>(result);
    },
  };
}

/**
 * An executor on a mysql2 connection already inside the caller's transaction.
 *
 * @example
 * ```ts
 * const conn = await pool.getConnection();
 * await conn.beginTransaction();
 * await conn.query('INSERT INTO orders …', […]);
 * await outbox.add(mysql2Connection(conn), { topic: 'orders', payload: order });
 * await conn.commit();
 * ```
 */
export function mysql2Connection(conn: Mysql2ConnectionLike): Executor {
  return wrap(conn);
}

const LEVELS: Record<IsolationLevel, string> = {
  'read committed': 'READ COMMITTED',
  'repeatable read': 'REPEATABLE READ',
  serializable: 'SERIALIZABLE',
};

/**
 * A transactional executor on a mysql2 promise `Pool` (`mysql2/promise`), for the relay and the
 * admin API. Queries use the text protocol with mysql2's escaping of `?` values (no prepared
 * statement cache to grow); a connection that broke is destroyed, not returned to the pool.
 */
export function mysql2Pool(
  pool: Mysql2PoolLike,
  options: { onConnectionError?: (error: Error) => void } = {},
): TransactionalExecutor {
  const onError = options.onConnectionError ?? (() => {});

  async function withConn<T>(fn: (conn: Mysql2PoolConnectionLike) => Promise<T>): Promise<T> {
    const conn = await pool.getConnection();
    let broken: Error | undefined;
    const listener = (error: Error) => {
      broken = error;
      onError(error);
    };
    conn.on('error', listener);
    let failed = false;
    try {
      return await fn(conn);
    } catch (error) {
      failed = true;
      throw error;
    } finally {
      conn.removeListener('error', listener);
      if (broken || failed) conn.destroy();
      else conn.release();
    }
  }

  return {
    query: wrap(pool).query,
    transaction<T>(fn: (tx: Executor) => Promise<T>, opts?: { isolationLevel?: IsolationLevel }): Promise<T> {
      return withConn(async (conn) => {
        if (opts?.isolationLevel)
          await conn.query(`SET TRANSACTION ISOLATION LEVEL ${LEVELS[opts.isolationLevel]}`);
        await conn.beginTransaction();
        let result: T;
        try {
          result = await fn(wrap(conn));
        } catch (error) {
          await conn.rollback().catch(() => {});
          throw error;
        }
        await conn.commit();
        return result;
      });
    },
    withConnection<T>(fn: (conn: Executor) => Promise<T>): Promise<T> {
      return withConn((conn) => fn(wrap(conn)));
    },
  };
}
