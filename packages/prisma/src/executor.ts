import {
  type Executor,
  type IsolationLevel,
  OutboxError,
  type QueryResult,
  type TransactionalExecutor,
  type TransactionOptions,
  type TransactionState,
} from '@troutbox/core';
import { checkOptionNames } from './options.js';

/**
 * The part of a Prisma client that troutbox uses: the raw-SQL methods. A `PrismaClient`, an
 * extended client and the `tx` of `prisma.$transaction(async (tx) => …)` all have it.
 * Typed by shape, so this package never imports your generated client.
 */
export interface PrismaRawClient {
  $queryRawUnsafe<T = unknown>(query: string, ...values: any[]): PromiseLike<T>;
  $executeRawUnsafe(query: string, ...values: any[]): PromiseLike<number>;
}

/** A Prisma client that can also open interactive transactions (not a `tx`). */
export interface PrismaClientLike extends PrismaRawClient {
  $transaction<R>(
    fn: (tx: any) => Promise<R>,
    options?: { maxWait?: number; timeout?: number; isolationLevel?: any },
  ): Promise<R>;
}

/** Options of {@link prismaExecutor}. */
export interface PrismaExecutorOptions {
  /**
   * Longest time one interactive transaction may stay open before Prisma rolls it back. The relay
   * holds its transaction while the sender delivers the batch, so this must exceed the relay's
   * `sendTimeoutMs` (30 s by default) with room to spare; Prisma's own default (5 s) is too short.
   * @defaultValue 60000
   */
  timeoutMs?: number;
  /** Longest wait for a connection from the pool when a transaction starts. @defaultValue 10000 */
  maxWaitMs?: number;
  /**
   * Isolation level of the transactions, as Prisma names it (`'ReadCommitted'`…), when the caller
   * asks for none. A level core asks for (`transaction(fn, { isolationLevel })`, such as the READ
   * COMMITTED the relay needs on MySQL) takes precedence. @defaultValue the database's default
   */
  isolationLevel?: string;
}

/** The option names of {@link PrismaExecutorOptions}. */
export const EXECUTOR_OPTIONS = ['timeoutMs', 'maxWaitMs', 'isolationLevel'] as const;

/** {@link PrismaExecutorOptions} with every default applied. */
export type ResolvedPrismaExecutorOptions = Readonly<
  Required<Omit<PrismaExecutorOptions, 'isolationLevel'>>
> & {
  readonly isolationLevel: string | undefined;
};

function positiveInt(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new OutboxError('INVALID_OPTION', `${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

/** Apply the defaults of {@link PrismaExecutorOptions} and check every option. */
export function resolvePrismaExecutorOptions(
  options: PrismaExecutorOptions = {},
): ResolvedPrismaExecutorOptions {
  if (typeof options !== 'object' || options === null) {
    throw new OutboxError('INVALID_OPTION', 'prismaExecutor options must be an object');
  }
  checkOptionNames(options, EXECUTOR_OPTIONS, 'prismaExecutor');
  if (options.isolationLevel !== undefined && typeof options.isolationLevel !== 'string') {
    throw new OutboxError('INVALID_OPTION', 'isolationLevel must be a string such as "ReadCommitted"');
  }
  return Object.freeze({
    timeoutMs: positiveInt(options.timeoutMs, 'timeoutMs', 60_000),
    maxWaitMs: positiveInt(options.maxWaitMs, 'maxWaitMs', 10_000),
    isolationLevel: options.isolationLevel,
  });
}

export function isPrismaRawClient(value: unknown): value is PrismaRawClient {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as PrismaRawClient).$queryRawUnsafe === 'function' &&
    typeof (value as PrismaRawClient).$executeRawUnsafe === 'function'
  );
}

// Prisma has two raw calls: one returns rows, the other the number of rows changed. The store
// needs the count of UPDATE and DELETE statements (requeue, purge) and the rows of SELECTs and
// RETURNING clauses, so the statement's own shape picks the call.
const RETURNS_ROWS = /^\s*(?:select|with|values|table|show|explain)\b|\breturning\b/i;

/** Prisma's error for a result column of type `void` (P2010 with the driver adapter's cause). */
function isVoidColumnError(error: unknown): boolean {
  const cause = (error as { meta?: { driverAdapterError?: { cause?: { kind?: unknown; type?: unknown } } } })
    ?.meta?.driverAdapterError?.cause;
  return cause?.kind === 'UnsupportedNativeDataType' && cause.type === 'void';
}

// Prisma 7 marks the client of an interactive transaction with its scope (the bookkeeping of
// nested transactions): `{ kind: 'nested', scopeId, scopeState: { stack } }`, where `stack` holds
// the ids of the transactions of that tree still open; each id is popped once its transaction has
// committed or rolled back. A registered symbol, so it is read without importing Prisma.
const TRANSACTION_SCOPE = Symbol.for('prisma.client.transaction.scope_context');

interface TransactionScope {
  kind: 'nested';
  scopeId: unknown;
  scopeState: { stack: unknown[] };
}

function transactionScope(client: object): TransactionScope | undefined {
  const scope = (client as Record<symbol, unknown>)[TRANSACTION_SCOPE] as
    | Partial<TransactionScope>
    | undefined;
  return scope?.kind === 'nested' && Array.isArray(scope.scopeState?.stack)
    ? (scope as TransactionScope)
    : undefined;
}

/**
 * Where a Prisma client stands: the client of an interactive transaction is `'transaction'` while
 * its transaction is open and `'ended'` after (read from Prisma's transaction scope); a root client
 * (`PrismaClient`, extended or not) is `'autocommit'`; `undefined` when it cannot tell (a
 * transaction client of a Prisma without the scope marker, or a hand-made object).
 */
export function prismaTransactionState(client: PrismaRawClient): TransactionState | undefined {
  const scope = transactionScope(client);
  if (scope !== undefined) return scope.scopeState.stack.includes(scope.scopeId) ? 'transaction' : 'ended';
  // Prisma hides `$connect` and `$disconnect` on transaction clients (its ITX deny list), so a
  // client that has them and can open transactions is a root client.
  const methods = client as Partial<PrismaClientLike> & { $connect?: unknown };
  if (typeof methods.$connect === 'function' && typeof methods.$transaction === 'function')
    return 'autocommit';
  return undefined;
}

/** An executor over `client`'s raw calls, whose state is `state()`. */
function rawExecutor(client: PrismaRawClient, state: () => TransactionState | undefined): Executor {
  return {
    async query<Row>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<Row>> {
      if (RETURNS_ROWS.test(sql)) {
        let rows: Row[];
        try {
          rows = (await client.$queryRawUnsafe<Row[]>(sql, ...params)) ?? [];
        } catch (error) {
          if (!isVoidColumnError(error)) throw error;
          // Prisma cannot read a `void` column, such as the result of
          // `SELECT pg_advisory_xact_lock($1)`. The statement has run by then (the driver adapter
          // fails while reading the result), and a void value carries nothing to return.
          return { rows: [], rowCount: 0 };
        }
        return { rows, rowCount: rows.length };
      }
      const rowCount = await client.$executeRawUnsafe(sql, ...params);
      return { rows: [], rowCount: Number(rowCount) };
    },
    transactionState: state,
  };
}

function checkRawClient(client: unknown): asserts client is PrismaRawClient {
  if (!isPrismaRawClient(client)) {
    throw new OutboxError(
      'INVALID_OPTION',
      'expected a Prisma client or transaction client with $queryRawUnsafe and $executeRawUnsafe',
    );
  }
}

/**
 * An executor on a Prisma client or on the `tx` of an interactive transaction: statements run
 * through `$queryRawUnsafe` / `$executeRawUnsafe`, with the values bound as parameters.
 *
 * Its `transactionState()` tells core where the client stands, so that writes through it are
 * checked before any SQL: a `tx` is `'transaction'` while its transaction is open and `'ended'`
 * after it committed or rolled back; the root client is `'autocommit'` (refused by `store.add`
 * unless the store opted into `autocommit`).
 *
 * @example
 * ```ts
 * await prisma.$transaction(async (tx) => {
 *   await tx.order.create({ data });
 *   await store.add(prismaRaw(tx), { topic: 'orders', payload: data });
 * });
 * ```
 */
export function prismaRaw(client: PrismaRawClient): Executor {
  checkRawClient(client);
  return rawExecutor(client, () => prismaTransactionState(client));
}

// Core's isolation levels in Prisma's spelling.
const PRISMA_LEVELS: Readonly<Record<IsolationLevel, string>> = {
  'read committed': 'ReadCommitted',
  'repeatable read': 'RepeatableRead',
  serializable: 'Serializable',
};

function prismaIsolationLevel(options: TransactionOptions | undefined): string | undefined {
  const level = options?.isolationLevel;
  if (level === undefined) return undefined;
  const prismaLevel = Object.hasOwn(PRISMA_LEVELS, level) ? PRISMA_LEVELS[level] : undefined;
  if (prismaLevel === undefined) {
    throw new OutboxError(
      'INVALID_OPTION',
      `unknown isolation level ${JSON.stringify(level)} (expected one of: ${Object.keys(PRISMA_LEVELS).join(', ')})`,
    );
  }
  return prismaLevel;
}

/**
 * A transactional executor over a Prisma client (plain or extended), for the relay and the admin
 * API: `transaction` opens an interactive `$transaction`, so a Prisma-only application needs no
 * other database driver. It has no `withConnection`, since Prisma cannot hold a connection
 * outside a transaction; the relay polls (and can be woken in-process) instead of LISTENing.
 *
 * `transaction(fn, { isolationLevel })` passes the level to Prisma (`'read committed'` becomes
 * `isolationLevel: 'ReadCommitted'`): the store asks for its dialect's `relayIsolationLevel`,
 * READ COMMITTED on MySQL, where InnoDB's default REPEATABLE READ would make the relay's claim
 * lock index gaps and block producers' inserts while a batch is being sent.
 *
 * Its own `transactionState()` is `'autocommit'` (a root client); the handles it gives to
 * `transaction(fn)` are `'transaction'` until Prisma has committed or rolled back, then `'ended'`.
 *
 * @example
 * ```ts
 * const db = prismaExecutor(prisma, { timeoutMs: 120_000 });
 * const store = new SqlMessageStore({ dialect: postgres(), db });
 * ```
 */
export function prismaExecutor(
  client: PrismaClientLike,
  options: PrismaExecutorOptions = {},
): TransactionalExecutor {
  checkRawClient(client);
  if (typeof (client as Partial<PrismaClientLike>).$transaction !== 'function') {
    throw new OutboxError('INVALID_OPTION', 'prismaExecutor needs a Prisma client with $transaction');
  }
  const resolved = resolvePrismaExecutorOptions(options);
  const txOptions = {
    timeout: resolved.timeoutMs,
    maxWait: resolved.maxWaitMs,
    ...(resolved.isolationLevel === undefined ? {} : { isolationLevel: resolved.isolationLevel }),
  };
  const { query, transactionState } = rawExecutor(client, () => prismaTransactionState(client));
  return {
    query,
    transactionState,
    async transaction<T>(fn: (tx: Executor) => Promise<T>, options?: TransactionOptions): Promise<T> {
      const isolationLevel = prismaIsolationLevel(options);
      // The handle is ours to follow: open until Prisma has committed or rolled back, then ended,
      // whether or not this Prisma version marks its transaction clients.
      let ended = false;
      try {
        return await client.$transaction(
          (tx: PrismaRawClient) =>
            fn(
              rawExecutor(tx, () =>
                ended || prismaTransactionState(tx) === 'ended' ? 'ended' : 'transaction',
              ),
            ),
          isolationLevel === undefined ? txOptions : { ...txOptions, isolationLevel },
        );
      } finally {
        ended = true;
      }
    },
  };
}
