import type { Types } from '@prisma/client/runtime/client';
import {
  createOutbox,
  type Dialect,
  type EncodedMessage,
  insertChunks,
  type NewMessage,
  OutboxError,
  type TransactionalExecutor,
} from '@troutbox/core';
import {
  isPrismaRawClient,
  type PrismaClientLike,
  type PrismaRawClient,
  prismaExecutor,
  prismaRaw,
  prismaTransactionState,
} from './executor.js';
import { checkOptionNames, type PrismaOutboxTableOptions, resolveDialect, TABLE_OPTIONS } from './options.js';

/** Options of {@link outbox}. */
export interface PrismaOutboxOptions extends PrismaOutboxTableOptions {
  /**
   * Called after each successful `$outbox` statement (before the commit, which the extension
   * does not see), with the number of messages written. Use it to wake a relay in the same
   * process (`relay.wake()`); keep it cheap.
   */
  onAdd?: (count: number) => void;
  /**
   * Let `await prisma.$outbox(…)` on the client itself (not on a `tx`, not in a batch) write in
   * autocommit: the messages commit at once, on their own, whatever happens to any transaction
   * around the call (a call larger than one INSERT statement gets a transaction of its own, so it
   * is still all or nothing). Off by default: such a call is refused with `NOT_IN_TRANSACTION`
   * before any SQL, because inside `prisma.$transaction(async (tx) => …)` it is the classic slip
   * of `prisma` for `tx`, and its message would be delivered even when the transaction rolls back.
   * @defaultValue false
   */
  autocommit?: boolean;
}

const OUTBOX_OPTIONS = [...TABLE_OPTIONS, 'onAdd', 'autocommit'] as const;

/**
 * What `$outbox(…)` returns: a Prisma promise of the number of messages written. Like Prisma's
 * own queries it is lazy (nothing is written until it is awaited, or until
 * `prisma.$transaction([…])` runs it), and `prisma.$outbox(…)` can be an element of a batch
 * transaction.
 */
export interface OutboxPromise extends Promise<number> {
  [Symbol.toStringTag]: 'PrismaPromise';
}

/**
 * `tx.$outbox(message | messages)`: validate, then write the messages in the transaction of the
 * client it is called on. Resolves to the number written.
 * - `tx.$outbox(…)` inside `prisma.$transaction(async (tx) => …)` writes in that transaction; a
 *   `tx` whose transaction has ended is refused (`NOT_IN_TRANSACTION`).
 * - `prisma.$transaction([prisma.order.create(…), prisma.$outbox(…)])` writes the messages as
 *   part of the batch: all of it commits, or none.
 * - `await prisma.$outbox(…)` on its own is refused (`NOT_IN_TRANSACTION`) unless the extension
 *   was created with `outbox({ autocommit: true })`.
 *
 * Rejects with an `OutboxError` (`INVALID_MESSAGE`, `PAYLOAD_TOO_LARGE`, `UNSERIALIZABLE_PAYLOAD`,
 * `NOT_IN_TRANSACTION`) before anything is written.
 */
export type OutboxMethod = (messages: NewMessage | readonly NewMessage[]) => OutboxPromise;

/** The client-level methods the extension adds. */
export interface OutboxClientMethods {
  $outbox: OutboxMethod;
}

/**
 * What {@link outbox} returns: the same shape as `Prisma.defineExtension(...)`, so
 * `prisma.$extends(outbox())` types `$outbox` on the extended client and on its transaction
 * clients.
 */
export type OutboxExtension = (client: any) => {
  $extends: { extArgs: Types.Extensions.InternalArgs<{}, {}, {}, OutboxClientMethods> };
};

/** What Prisma gives each element of `$transaction([…])` (its `PrismaPromiseBatchTransaction`). */
interface BatchTransaction {
  kind: 'batch';
  /** Counts the elements that have sent their requests; Prisma holds them all until it opens. */
  lock?: PromiseLike<unknown>;
}

/** A Prisma promise as the batch sees it. */
type BatchablePromise = PromiseLike<unknown> & {
  requestTransaction?(batch: BatchTransaction): PromiseLike<unknown>;
};

/** The lazy promise `$outbox` returns: written when awaited, or as an element of a batch. */
class OutboxWrite implements OutboxPromise {
  readonly [Symbol.toStringTag] = 'PrismaPromise' as const;
  #result: Promise<number> | undefined;
  readonly #write: () => Promise<number>;
  readonly #joinBatch: (batch: BatchTransaction) => Promise<number>;

  constructor(write: () => Promise<number>, joinBatch: (batch: BatchTransaction) => Promise<number>) {
    this.#write = write;
    this.#joinBatch = joinBatch;
  }

  #run(): Promise<number> {
    this.#result ??= this.#write();
    return this.#result;
  }

  // biome-ignore lint/suspicious/noThenProperty: a Prisma promise is a thenable by design, run when awaited.
  then<A = number, B = never>(
    onfulfilled?: ((value: number) => A | PromiseLike<A>) | null,
    onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return this.#run().then(onfulfilled, onrejected);
  }

  catch<B = never>(onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null): Promise<number | B> {
    return this.#run().catch(onrejected);
  }

  finally(onfinally?: (() => void) | null): Promise<number> {
    return this.#run().finally(onfinally);
  }

  /** Called by `prisma.$transaction([…])` for each element of the array, instead of `then`. */
  requestTransaction(batch: BatchTransaction): Promise<number> {
    if (this.#result !== undefined) {
      return Promise.reject(
        new OutboxError(
          'INVALID_OPTION',
          'this $outbox(…) has already been awaited on its own; pass a fresh call to $transaction([…])',
        ),
      );
    }
    this.#result = this.#joinBatch(batch);
    return this.#result;
  }
}

/**
 * Send each statement of a write as a request of `batch`, from one element of the array.
 * Prisma holds every request of a batch until each element of the array has sent its own,
 * counting each request once against `batch.lock`; this element may send several (a write larger
 * than one INSERT, or MySQL's key counters then the messages), so it counts once itself and gives
 * its requests a lock that opens with the batch's. Prisma then sends them all as one transaction,
 * in the order of the array (its requests keep their order within this element's place).
 */
function sendInBatch(
  client: PrismaRawClient,
  dialect: Dialect,
  encoded: readonly EncodedMessage[],
  batch: BatchTransaction,
): Promise<unknown> {
  const { lock } = batch;
  if (encoded.length === 0) {
    lock?.then(() => undefined);
    return Promise.resolve();
  }
  const requests = insertChunks(dialect, encoded)
    .flatMap((chunk) => dialect.insert(chunk))
    // Executed, never queried: a statement's result (PostgreSQL's pg_notify is a `void` column)
    // is not read.
    .map(({ sql, params }) => client.$executeRawUnsafe(sql, ...params) as BatchablePromise);
  if (requests.some((r) => typeof r.requestTransaction !== 'function')) {
    throw new OutboxError('INVALID_OPTION', '$outbox in $transaction([…]) needs a Prisma client');
  }
  const shared =
    requests.length === 1 || lock === undefined
      ? batch
      : { ...batch, lock: new Promise<unknown>((resolve) => lock.then(resolve)) };
  return Promise.all(requests.map((r) => r.requestTransaction!(shared)));
}

/**
 * The troutbox Prisma client extension: adds `$outbox(message | messages)` to the client and
 * to every interactive-transaction client made from it.
 *
 * Call it on the `tx` of `prisma.$transaction(async (tx) => …)` and the messages are written in
 * that transaction: they commit with your business rows or roll back with them. Or pass
 * `prisma.$outbox(…)` in a batch, `prisma.$transaction([prisma.order.create(…), prisma.$outbox(…)])`:
 * it is part of the batch's transaction. On the client itself, awaited on its own, it is refused
 * (`NOT_IN_TRANSACTION`) unless `autocommit: true` is given.
 *
 * @example
 * ```ts
 * const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString }) }).$extends(outbox());
 * await prisma.$transaction(async (tx) => {
 *   const order = await tx.order.create({ data: { customer: 'ada', total: 42 } });
 *   await tx.$outbox({ topic: 'orders', key: String(order.id), payload: { type: 'OrderPlaced', order } });
 * });
 * ```
 */
export function outbox(options: PrismaOutboxOptions = {}): OutboxExtension {
  const dialect = resolveDialect(options);
  checkOptionNames(options, OUTBOX_OPTIONS, 'outbox');
  const { onAdd, autocommit = false } = options;
  if (onAdd !== undefined && typeof onAdd !== 'function') {
    throw new OutboxError('INVALID_OPTION', 'onAdd must be a function');
  }
  if (typeof autocommit !== 'boolean') {
    throw new OutboxError('INVALID_OPTION', `autocommit must be a boolean, got ${String(autocommit)}`);
  }
  const writer = createOutbox({ dialect, limits: options.limits, onAdd, autocommit });
  const added = (count: number) => {
    try {
      onAdd?.(count);
    } catch {
      // A wake-up hint must never fail the caller's write.
    }
  };

  // Prisma calls a client-level extension method with `this` bound to the client it was read
  // from: the transaction client when called as `tx.$outbox(…)`. Writing through `this`, never
  // through a client captured when the extension was created, is what keeps the insert inside
  // the caller's transaction. (`Prisma.getExtensionContext(this)` returns `this` unchanged; we
  // read it directly so that `@prisma/client` stays a type-only dependency.)
  //
  // This is also why the method is `tx.$outbox(…)` and not `tx.$outbox.add(…)`: a method of a
  // nested object gets that object as `this`, and the object is shared by every client, so it
  // could not know which transaction it was called in.
  const baseExecutors = new WeakMap<PrismaClientLike, TransactionalExecutor>();
  const baseExecutor = (client: PrismaClientLike) => {
    let db = baseExecutors.get(client);
    if (!db) {
      db = prismaExecutor(client);
      baseExecutors.set(client, db);
    }
    return db;
  };

  function refused(error: unknown): OutboxPromise {
    return new OutboxWrite(
      () => Promise.reject(error),
      () => Promise.reject(error),
    );
  }

  function $outbox(this: unknown, messages: NewMessage | readonly NewMessage[]): OutboxPromise {
    return write(this, messages);
  }

  function write(client: unknown, messages: NewMessage | readonly NewMessage[]): OutboxPromise {
    if (!isPrismaRawClient(client)) {
      return refused(
        new OutboxError(
          'INVALID_OPTION',
          '$outbox must be called as a method of a Prisma client, e.g. tx.$outbox(message); a detached ' +
            'reference would not know which transaction to write in',
        ),
      );
    }
    let encoded: EncodedMessage[];
    try {
      // Validated at once, so that a bad message fails a batch before any of it is sent.
      encoded = writer.encode(messages);
    } catch (error) {
      return refused(error);
    }
    if (prismaTransactionState(client) !== 'autocommit') {
      // A transaction client: the caller's transaction holds every statement, and core refuses a
      // client whose transaction has ended (prismaRaw reads its state when the write runs).
      return new OutboxWrite(
        async () => {
          if (prismaTransactionState(client) === 'ended') {
            throw new OutboxError(
              'NOT_IN_TRANSACTION',
              'tx.$outbox(…) was called on the client of a transaction that has already committed or rolled ' +
                'back; write inside the transaction callback, with the tx it was given',
            );
          }
          await writer.insertEncoded(prismaRaw(client), encoded);
          return encoded.length;
        },
        () =>
          Promise.reject(
            new OutboxError(
              'INVALID_OPTION',
              'tx.$outbox(…) cannot be an element of $transaction([…]); await it inside the interactive ' +
                'transaction, or pass prisma.$outbox(…) of the client that runs the batch',
            ),
          ),
      );
    }
    const root = client as PrismaClientLike;
    return new OutboxWrite(
      async () => {
        if (!autocommit) {
          throw new OutboxError(
            'NOT_IN_TRANSACTION',
            'prisma.$outbox(…) on the client itself would commit on its own, even if a transaction around ' +
              'it rolls back: call tx.$outbox(…) inside prisma.$transaction(async (tx) => …), pass it to ' +
              'prisma.$transaction([…]), or create the extension with outbox({ autocommit: true })',
          );
        }
        // The root client is given to core as a transactional executor, so a write of more than one
        // statement (rows or bytes past one INSERT, or MySQL's key counters) gets a transaction of
        // its own and commits or fails as a whole, like a single insert.
        await writer.insertEncoded(baseExecutor(root), encoded);
        return encoded.length;
      },
      async (batch) => {
        await sendInBatch(root, dialect, encoded, batch);
        if (encoded.length > 0) added(encoded.length);
        return encoded.length;
      },
    );
  }

  const extension = { name: '@troutbox/prisma', client: { $outbox } };
  // The run-time shape of `Prisma.defineExtension(extension)`, without importing @prisma/client.
  return (client: any) => client.$extends(extension);
}
