import {
  type Executor,
  type IsolationLevel,
  OutboxError,
  type QueryResult,
  type TransactionalExecutor,
  type TransactionOptions,
} from '@troutbox/core';
import type {
  DataSourceLike,
  EntityManagerLike,
  QueryRunnerLike,
  TransactionIsolationLevel,
} from './handles.js';

/**
 * An executor on a TypeORM query runner: every statement runs on that runner's connection, so
 * inside its transaction when one is open.
 *
 * TypeORM's plain `query()` answers differently per driver (on PostgreSQL `[rows, count]` for
 * UPDATE and DELETE, on MySQL a `ResultSetHeader` with `affectedRows`); the structured form
 * (`useStructuredResult`) gives the rows and the affected count on every driver, which is what
 * the store needs. SQL and values pass through untouched: placeholders are the dialect's own
 * (`$1` on PostgreSQL, `?` on MySQL).
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

const LEVELS: Record<IsolationLevel, TransactionIsolationLevel> = {
  'read committed': 'READ COMMITTED',
  'repeatable read': 'REPEATABLE READ',
  serializable: 'SERIALIZABLE',
};

function isolationLevel(options: TransactionOptions | undefined): TransactionIsolationLevel | undefined {
  if (options?.isolationLevel === undefined) return undefined;
  const level = LEVELS[options.isolationLevel];
  if (!level) {
    throw new OutboxError(
      'INVALID_OPTION',
      `unknown isolation level ${JSON.stringify(options.isolationLevel)} (expected one of: ${Object.keys(LEVELS).join(', ')})`,
    );
  }
  return level;
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
 * `transaction(fn, { isolationLevel })` opens the transaction at that level through TypeORM's
 * `startTransaction(level)`. The store asks for its dialect's `relayIsolationLevel`: READ
 * COMMITTED on MySQL, where InnoDB's default REPEATABLE READ would make the claim lock index
 * gaps and block producers' inserts while a batch is being sent.
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
    async transaction<T>(fn: (tx: Executor) => Promise<T>, options?: TransactionOptions): Promise<T> {
      // Checked before a connection is taken: a bad level fails without touching the pool.
      const level = isolationLevel(options);
      return withRunner(dataSource, async (runner) => {
        await runner.connect();
        await (level ? runner.startTransaction(level) : runner.startTransaction());
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
