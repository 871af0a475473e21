import type { Types } from '@prisma/client/runtime/client';
import { createOutbox, type NewMessage, OutboxError, type TransactionalExecutor } from '@troutbox/core';
import {
  isPrismaRawClient,
  type PrismaClientLike,
  type PrismaRawClient,
  prismaExecutor,
  prismaRaw,
} from './executor.js';
import { type PrismaOutboxTableOptions, resolveDialect } from './options.js';

/** Options of {@link outbox}. */
export interface PrismaOutboxOptions extends PrismaOutboxTableOptions {
  /**
   * Called after each successful `$outbox` statement (before the commit, which the extension
   * does not see), with the number of messages written. Use it to wake a relay in the same
   * process (`relay.wake()`); keep it cheap.
   */
  onAdd?: (count: number) => void;
}

/**
 * `tx.$outbox(message | messages)`: validate, then write the messages on the client it is called
 * on (inside `prisma.$transaction`, that is the transaction). Resolves to the number written.
 * On the client itself, one call is atomic: a call too large for one INSERT statement runs in a
 * transaction of its own.
 * Throws an `OutboxError` (`INVALID_MESSAGE`, `PAYLOAD_TOO_LARGE`, `UNSERIALIZABLE_PAYLOAD`)
 * before anything is written when any message is invalid.
 */
export type OutboxMethod = (messages: NewMessage | readonly NewMessage[]) => Promise<number>;

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

/**
 * The troutbox Prisma client extension: adds `$outbox(message | messages)` to the client and
 * to every interactive-transaction client made from it.
 *
 * Call it on the `tx` of `prisma.$transaction(async (tx) => …)` and the messages are written in
 * that transaction: they commit with your business rows or roll back with them. Called on the
 * client itself, it is one atomic insert of its own.
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
  if (options.onAdd !== undefined && typeof options.onAdd !== 'function') {
    throw new OutboxError('INVALID_OPTION', 'onAdd must be a function');
  }
  const writer = createOutbox({ dialect, limits: options.limits, onAdd: options.onAdd });

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

  async function $outbox(this: unknown, messages: NewMessage | readonly NewMessage[]): Promise<number> {
    if (!isPrismaRawClient(this)) {
      throw new OutboxError(
        'INVALID_OPTION',
        '$outbox must be called as a method of a Prisma client, e.g. tx.$outbox(message); a detached ' +
          'reference would not know which transaction to write in',
      );
    }
    const encoded = writer.encode(messages);
    const client = this as PrismaRawClient & { $transaction?: unknown };
    // A transaction client has no `$transaction`: the caller's transaction holds every statement.
    // The base client is given to core as a transactional executor, so a write of more than one
    // statement (rows or bytes past one INSERT, or MySQL's key counters) gets a transaction of
    // its own and commits or fails as a whole, like a single insert.
    const db =
      typeof client.$transaction === 'function'
        ? baseExecutor(client as PrismaClientLike)
        : prismaRaw(client);
    await writer.insertEncoded(db, encoded);
    return encoded.length;
  }

  const extension = { name: '@troutbox/prisma', client: { $outbox } };
  // The run-time shape of `Prisma.defineExtension(extension)`, without importing @prisma/client.
  return (client: any) => client.$extends(extension);
}
