import { type Executor, OutboxError, type QueryResult, type TransactionalExecutor } from '@troutbox/core';
import type { DataSourceLike, EntityManagerLike, QueryRunnerLike } from './handles.js';

/**
 * An executor on a TypeORM query runner: every statement runs on that runner's connection, so
 * inside its transaction when one is open.
 *
 * TypeORM's plain `query()` answers `[rows, count]` for UPDATE and DELETE on PostgreSQL and
 * the rows otherwise; the structured form (`useStructuredResult`) gives rows and the affected
 * count on every driver, which is what the store needs.
 *
 * @example
 * ```ts
 * const queryRunner = dataSource.createQueryRunner();
 * await queryRunner.startTransaction();
 * await outbox.add(queryRunnerExecutor(queryRunner), { topic: 'orders', payload: order });
 * await queryRunner.commitTransaction();
 * ```
 */
export function queryRunnerExecutor(queryRunner: QueryRunnerLike): Executor {
  if (typeof queryRunner?.query !== 'function') {
    throw new OutboxError('INVALID_OPTION', 'queryRunnerExecutor needs a TypeORM QueryRunner');
  }
  return {
    async query<Row>(sql: string, params?: readonly unknown[]): Promise<QueryResult<Row>> {
      const result = await queryRunner.query(sql, params ? [...params] : [], true);
      const rows = (result?.records ?? []) as Row[];
      return { rows, rowCount: result?.affected ?? rows.length };
    },
  };
}

async function withRunner<T>(dataSource: DataSourceLike, fn: (runner: QueryRunnerLike) => Promise<T>) {
  const runner = dataSource.createQueryRunner('master');
  try {
    return await fn(runner);
  } finally {
    await runner.release();
  }
}

/**
 * A transactional executor on a TypeORM `DataSource`, for the relay and the admin API: each
 * transaction takes a query runner from TypeORM's pool, so a TypeORM app needs no second
 * driver or pool for the relay.
 *
 * @example
 * ```ts
 * const store = new SqlMessageStore({ dialect: postgres(), db: typeormExecutor(dataSource) });
 * const relay = createRelay({ store, sender });
 * await relay.start();
 * ```
 */
export function typeormExecutor(dataSource: DataSourceLike): TransactionalExecutor {
  if (typeof dataSource?.createQueryRunner !== 'function') {
    throw new OutboxError('INVALID_OPTION', 'typeormExecutor needs a TypeORM DataSource');
  }
  return {
    query<Row>(sql: string, params?: readonly unknown[]): Promise<QueryResult<Row>> {
      return withRunner(dataSource, (runner) => queryRunnerExecutor(runner).query<Row>(sql, params));
    },
    transaction<T>(fn: (tx: Executor) => Promise<T>): Promise<T> {
      return withRunner(dataSource, async (runner) => {
        await runner.connect();
        await runner.startTransaction();
        try {
          const result = await fn(queryRunnerExecutor(runner));
          await runner.commitTransaction();
          return result;
        } catch (error) {
          // A failed COMMIT leaves nothing to roll back; a failed statement leaves an aborted
          // transaction that must be rolled back before the connection goes back to the pool.
          if (runner.isTransactionActive && !runner.isReleased) {
            await runner.rollbackTransaction().catch(() => {});
          }
          throw error;
        }
      });
    },
    withConnection<T>(fn: (conn: Executor) => Promise<T>): Promise<T> {
      return withRunner(dataSource, async (runner) => {
        await runner.connect();
        return fn(queryRunnerExecutor(runner));
      });
    },
  };
}

/**
 * An executor on a TypeORM `EntityManager`: inside `dataSource.transaction(async (manager) => …)`
 * it runs on that transaction's query runner; on a manager without one (`dataSource.manager`)
 * each statement takes a connection from the pool and commits on its own.
 *
 * @example
 * ```ts
 * await dataSource.transaction(async (manager) => {
 *   await manager.save(order);
 *   await store.add(entityManagerExecutor(manager), { topic: 'orders', payload: { id: order.id } });
 * });
 * ```
 */
export function entityManagerExecutor(manager: EntityManagerLike): Executor {
  if (typeof manager?.dataSource?.createQueryRunner !== 'function') {
    throw new OutboxError('INVALID_OPTION', 'entityManagerExecutor needs a TypeORM EntityManager');
  }
  const runner = manager.queryRunner;
  if (runner && !runner.isReleased) return queryRunnerExecutor(runner);
  const { dataSource } = manager;
  return {
    query<Row>(sql: string, params?: readonly unknown[]) {
      return withRunner(dataSource, (r) => queryRunnerExecutor(r).query<Row>(sql, params));
    },
  };
}
