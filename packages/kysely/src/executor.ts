import {
  type Executor,
  OutboxError,
  type QueryResult,
  type TransactionalExecutor,
  type TransactionOptions,
  type TransactionState,
} from '@troutbox/core';
import { CompiledQuery, type QueryResult as KyselyQueryResult } from 'kysely';

/**
 * The part of a `Kysely` instance, a `Transaction` or a `ControlledTransaction` that troutbox
 * uses, whatever its database type. Typed by shape, so any `Kysely<DB>` fits and a second copy
 * of kysely in `node_modules` does not break the types.
 *
 * @example
 * ```ts
 * import type { KyselyLike } from '@troutbox/kysely';
 * async function placeOrder(db: KyselyLike & Kysely<Database>) { … }
 * ```
 */
export interface KyselyLike {
  /** `true` for a `Transaction` or `ControlledTransaction`. */
  readonly isTransaction: boolean;
  /** A `ControlledTransaction`'s (and its savepoints'): `true` once committed. */
  readonly isCommitted?: boolean;
  /** A `ControlledTransaction`'s (and its savepoints'): `true` once rolled back. */
  readonly isRolledBack?: boolean;
  executeQuery<R>(query: CompiledQuery<R>): Promise<KyselyQueryResult<R>>;
  withoutPlugins(): KyselyLike;
  /** Kysely's transaction builder (a transaction's own throws, which troutbox never calls). */
  transaction(): KyselyTransactionBuilderLike;
  /** Kysely's single-connection builder (a transaction's own throws, which troutbox never calls). */
  connection(): { execute<T>(callback: (db: KyselyLike) => Promise<T>): Promise<T> };
}

/** The part of Kysely's `TransactionBuilder` that troutbox uses. */
export interface KyselyTransactionBuilderLike {
  setIsolationLevel(level: NonNullable<TransactionOptions['isolationLevel']>): KyselyTransactionBuilderLike;
  execute<T>(callback: (trx: KyselyLike) => Promise<T>): Promise<T>;
}

/** A `Transaction` or `ControlledTransaction` of any database type. */
export type KyselyTransactionLike = KyselyLike & { readonly isTransaction: true };

/** Throw a clear error for the common slips: a pool, a builder, a missing `.execute()`. */
export function checkKysely(db: unknown, caller: string): asserts db is KyselyLike {
  const candidate = db as Partial<KyselyLike> | null | undefined;
  if (typeof candidate?.executeQuery === 'function' && typeof candidate.withoutPlugins === 'function') return;
  const builder =
    typeof (db as { execute?: unknown } | null)?.execute === 'function'
      ? ' (this looks like a builder: pass the trx of db.transaction().execute(async (trx) => …), or await db.startTransaction().execute())'
      : '';
  throw new OutboxError(
    'INVALID_OPTION',
    `${caller} needs a Kysely instance, Transaction or ControlledTransaction${builder}`,
  );
}

/**
 * Has Kysely marked this transaction handle as finished? Kysely (0.28.11 and later) gives the
 * handle of `transaction().execute(cb)` an executor that refuses queries once `cb`'s transaction
 * committed or rolled back, but exposes that state only on a `ControlledTransaction`. Its `stream`
 * runs the same check synchronously and returns a generator that does nothing until iterated, so
 * calling it tells without touching the connection. A handle without that executor (an older
 * Kysely) cannot tell, and counts as open.
 */
function kyselyRefusesQueries(db: KyselyLike): boolean {
  const executor = (db as { getExecutor?: () => unknown }).getExecutor?.() as
    | { stream?: (query: CompiledQuery, chunkSize: number) => unknown }
    | undefined;
  if (typeof executor?.stream !== 'function') return false;
  try {
    executor.stream(CompiledQuery.raw('SELECT 1'), 1);
    return false;
  } catch {
    return true;
  }
}

/**
 * Where a Kysely handle stands, without a round trip: a `Kysely` instance (or the connection of
 * `db.connection()`) runs each statement in autocommit; a `Transaction` or `ControlledTransaction`
 * (or a savepoint of one) is in its transaction until that commits or rolls back.
 */
function stateOf(db: KyselyLike): TransactionState {
  if (!db.isTransaction) return 'autocommit';
  if (db.isCommitted === true || db.isRolledBack === true) return 'ended';
  return kyselyRefusesQueries(db) ? 'ended' : 'transaction';
}

/**
 * An executor on one Kysely handle. Core's SQL goes through `executeQuery` as a raw compiled
 * query, with its parameters bound by the driver. Plugins are left out: core reads rows by their
 * column names, which a `CamelCasePlugin` would rename.
 */
function queryOn(db: KyselyLike, state: () => TransactionState): Executor {
  const raw = db.withoutPlugins();
  return {
    async query<Row>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<Row>> {
      const compiled = CompiledQuery.raw(sql, [...params]) as CompiledQuery<Row>;
      const result = await raw.executeQuery<Row>(compiled);
      // Drivers differ: node-postgres reports no count for a SELECT, PGlite reports 0, and both
      // report the rows changed by a write. A row read is a row counted, as node-postgres does.
      const affected = result.numAffectedRows === undefined ? 0 : Number(result.numAffectedRows);
      return { rows: result.rows, rowCount: Math.max(affected, result.rows.length) };
    },
    transactionState: state,
  };
}

/**
 * A troutbox executor over Kysely.
 *
 * - On a `Kysely` instance: a {@link TransactionalExecutor} for the relay, the store's admin
 *   methods and migrations. Its transactions are `db.transaction().execute(…)` (with
 *   `setIsolationLevel` when core asks for one), and
 *   `withConnection` is `db.connection().execute(…)`.
 * - On a `Transaction` or `ControlledTransaction`: an executor bound to that transaction.
 *
 * Each reports its `transactionState()`, which core checks before writing messages: a `Kysely`
 * instance is `'autocommit'`; a transaction (and the handle core's `transaction(fn)` gives `fn`)
 * is `'transaction'`, and `'ended'` once it has committed or rolled back.
 *
 * Rows come back as the database returns them, without the instance's plugins.
 *
 * @example
 * ```ts
 * const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
 * const store = new SqlMessageStore({ dialect: postgres(), db: kyselyExecutor(db) });
 * const relay = createRelay({ store, sender });
 * await relay.start();
 * ```
 */
export function kyselyExecutor(trx: KyselyTransactionLike): Executor;
export function kyselyExecutor(db: KyselyLike): TransactionalExecutor;
export function kyselyExecutor(db: KyselyLike): Executor | TransactionalExecutor {
  checkKysely(db, 'kyselyExecutor');
  const base = queryOn(db, () => stateOf(db));
  if (db.isTransaction) return base;
  return {
    ...base,
    transaction<T>(fn: (tx: Executor) => Promise<T>, options?: TransactionOptions): Promise<T> {
      let builder = db.transaction();
      // The dialect asks for one where the database's default is wrong for claiming (MySQL).
      if (options?.isolationLevel) builder = builder.setIsolationLevel(options.isolationLevel);
      return builder.execute(async (trx) => {
        // Ended as soon as fn is done, whatever the Kysely version can tell about trx afterwards.
        let open = true;
        try {
          return await fn(queryOn(trx, () => (open ? stateOf(trx) : 'ended')));
        } finally {
          open = false;
        }
      });
    },
    withConnection: <T>(fn: (conn: Executor) => Promise<T>) =>
      db.connection().execute((conn) => fn(queryOn(conn, () => stateOf(conn)))),
  };
}
