import {
  type Executor,
  type IsolationLevel,
  OutboxError,
  type QueryResult,
  type TransactionalExecutor,
  type TransactionOptions,
  type TransactionState,
} from '@troutbox/core';
import type {
  DataSourceLike,
  EntityManagerLike,
  QueryRunnerLike,
  TransactionIsolationLevel,
} from './handles.js';

/** What TypeORM says of a query runner right now. */
function runnerState(runner: QueryRunnerLike): TransactionState {
  if (runner.isReleased) return 'ended';
  return runner.isTransactionActive ? 'transaction' : 'autocommit';
}

function endedError(): OutboxError {
  return new OutboxError(
    'NOT_IN_TRANSACTION',
    'this TypeORM handle belongs to a transaction that has already committed or rolled back (or to a released query runner); use the manager of an open transaction',
    { operation: 'query' },
  );
}

/**
 * An executor that runs every statement on `runner` and answers `state()`. A statement through
 * a handle whose transaction is over is refused rather than run on whatever the connection is
 * doing by then (autocommit, or somebody else's transaction).
 */
function onRunner(runner: QueryRunnerLike, state: () => TransactionState): Executor {
  return {
    transactionState: state,
    async query<Row>(sql: string, params?: readonly unknown[]): Promise<QueryResult<Row>> {
      if (state() === 'ended') throw endedError();
      return structuredQuery<Row>(runner, sql, params);
    },
  };
}

async function structuredQuery<Row>(
  runner: QueryRunnerLike,
  sql: string,
  params: readonly unknown[] | undefined,
): Promise<QueryResult<Row>> {
  const result = await runner.query(sql, params ? [...params] : [], true);
  const rows = (result?.records ?? []) as Row[];
  return { rows, rowCount: result?.affected ?? rows.length };
}

/**
 * Open a transaction on `runner` for `fn` (a savepoint when one is already open), commit when
 * it resolves, roll back when it throws. The handle `fn` gets answers `ended` once it is over.
 */
async function runTransaction<T>(
  runner: QueryRunnerLike,
  level: TransactionIsolationLevel | undefined,
  fn: (tx: Executor) => Promise<T>,
): Promise<T> {
  await (level ? runner.startTransaction(level) : runner.startTransaction());
  let ended = false;
  const tx = onRunner(runner, () => (ended || runner.isReleased ? 'ended' : 'transaction'));
  try {
    const result = await fn(tx);
    ended = true;
    await runner.commitTransaction();
    return result;
  } catch (error) {
    ended = true;
    // A failed COMMIT leaves nothing to roll back; a failed statement leaves an aborted
    // transaction that must be rolled back before the connection goes back to the pool.
    if (runner.isTransactionActive && !runner.isReleased) {
      await runner.rollbackTransaction().catch(() => {});
    }
    throw error;
  }
}

/**
 * An executor on a TypeORM query runner: every statement runs on that runner's connection, so
 * inside its transaction when one is open.
 *
 * It reports where it stands ({@link Executor.transactionState}), which `outbox.add` checks
 * before writing: `transaction` while the runner's transaction is open, `autocommit` while the
 * runner has none (refused unless the outbox allows autocommit), `ended` once the runner is
 * released — and, for an executor made inside a transaction, once that transaction has
 * committed or rolled back, even if the runner starts another later. An `ended` executor runs
 * no statement at all (`NOT_IN_TRANSACTION`).
 *
 * `transaction(fn)` opens a transaction on the runner (a savepoint inside an open one): a
 * write of several statements through a runner outside a transaction, when autocommit is
 * allowed, is still all or nothing.
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
  return runnerExecutor(queryRunner);
}

function runnerExecutor(runner: QueryRunnerLike): TransactionalExecutor {
  // Made inside a transaction, the handle belongs to it: once it is seen over, it stays over.
  // (TypeORM has no transaction id to tell a later transaction on the same runner apart; a
  // handle that never looked in between follows the runner into it.)
  const madeInTransaction = runnerState(runner) === 'transaction';
  let ended = runnerState(runner) === 'ended';
  const state = (): TransactionState => {
    if (ended) return 'ended';
    const now = runnerState(runner);
    if (now === 'ended' || (madeInTransaction && now === 'autocommit')) {
      ended = true;
      return 'ended';
    }
    return now;
  };
  return {
    ...onRunner(runner, state),
    transaction<T>(fn: (tx: Executor) => Promise<T>, options?: TransactionOptions): Promise<T> {
      const level = isolationLevel(options);
      if (state() === 'ended') return Promise.reject(endedError());
      return runTransaction(runner, level, fn);
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
 * It reports `autocommit` (each `query` commits on its own, so `outbox.add` refuses it unless
 * the outbox allows autocommit); the handle `transaction(fn)` gives `fn` reports `transaction`,
 * then `ended` once the transaction has committed or rolled back.
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
    // Each statement takes a connection of its own from the pool and commits on its own.
    transactionState: () => 'autocommit',
    query<Row>(sql: string, params?: readonly unknown[]): Promise<QueryResult<Row>> {
      return withRunner(dataSource, (runner) => structuredQuery<Row>(runner, sql, params));
    },
    async transaction<T>(fn: (tx: Executor) => Promise<T>, options?: TransactionOptions): Promise<T> {
      // Checked before a connection is taken: a bad level fails without touching the pool.
      const level = isolationLevel(options);
      return withRunner(dataSource, async (runner) => {
        await runner.connect();
        return runTransaction(runner, level, fn);
      });
    },
    withConnection<T>(fn: (conn: Executor) => Promise<T>): Promise<T> {
      return withRunner(dataSource, async (runner) => {
        await runner.connect();
        // Follows the session (autocommit, or a transaction `fn` opens), `ended` once released.
        return fn(runnerExecutor(runner));
      });
    },
  };
}

/**
 * An executor on a TypeORM `EntityManager`: inside `dataSource.transaction(async (manager) => …)`
 * it runs on that transaction's query runner and reports `transaction`; once that transaction
 * is over (TypeORM then releases the runner) it reports `ended` and runs nothing. On the root
 * manager (`dataSource.manager`, no query runner) it is {@link typeormExecutor}: `autocommit`,
 * each statement on a pooled connection, committing on its own — which `outbox.add` refuses
 * unless the outbox allows autocommit.
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
  // A released runner is not "no runner": its transaction is over, and falling back to the pool
  // would commit the write on its own.
  return manager.queryRunner ? runnerExecutor(manager.queryRunner) : typeormExecutor(manager.dataSource);
}

/**
 * Refuse a write through `db` unless it is in an open transaction (or, with `autocommit`, not in
 * one), before any SQL, in TypeORM's words. Core's `outbox.add` checks the same again.
 * @internal used by {@link addMessage} and the {@link OutboxSubscriber}
 */
export function checkWrite(db: Executor, caller: string, autocommit: boolean | undefined): void {
  const state = db.transactionState?.();
  if (state === 'ended') {
    throw new OutboxError(
      'NOT_IN_TRANSACTION',
      `${caller}: the transaction of this manager has already committed or rolled back (its query runner is released or out of its transaction); write with the manager of an open transaction`,
      { operation: caller },
    );
  }
  if (state === 'autocommit' && autocommit !== true) {
    throw new OutboxError(
      'NOT_IN_TRANSACTION',
      `${caller} needs the manager of an open transaction (dataSource.transaction(async (manager) => …)): here the messages would commit on their own, even if the business change rolls back. To accept that, pass autocommit: true in the options of addMessage or outboxSubscriber`,
      { operation: caller },
    );
  }
}
