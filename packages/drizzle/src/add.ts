import { createOutbox, type NewMessage, type Outbox, postgres } from '@troutbox/core';
import { type DrizzlePgDatabase, drizzleQuery } from './executor.js';
import { type OutboxTableOptions, schemaName } from './schema.js';

/** Options of {@link addMessage}. */
export interface AddMessageOptions extends OutboxTableOptions {
  /**
   * A core outbox to write with, from `createOutbox({ dialect: postgres(…), onAdd, limits })`:
   * for a relay woken in the same process (`onAdd: () => relay.wake()`) or other limits.
   * When given, its dialect names the table and `schema`/`table` are ignored.
   */
  outbox?: Outbox;
}

// One outbox per table name: the dialect validates and renders its SQL once, not per call.
const outboxes = new Map<string, Outbox>();

function outboxFor(options: OutboxTableOptions): Outbox {
  const schema = schemaName(options.schema);
  const key = `${schema}\u0000${options.table ?? 'outbox_messages'}`;
  let outbox = outboxes.get(key);
  if (outbox === undefined) {
    outbox = createOutbox({ dialect: postgres({ schema, table: options.table }) });
    outboxes.set(key, outbox);
  }
  return outbox;
}

/**
 * Write one message, or many in one statement, in the caller's drizzle transaction: the message
 * commits or rolls back with the business change. Every message is validated first; nothing is
 * written when any is invalid (an `OutboxError`). Outside a transaction it is one atomic insert.
 *
 * Works with any PostgreSQL drizzle database or transaction: node-postgres, postgres-js, PGlite.
 *
 * @returns the number of messages written
 *
 * @example
 * ```ts
 * import { addMessage } from '@troutbox/drizzle';
 *
 * await db.transaction(async (tx) => {
 *   const [order] = await tx.insert(orders).values({ total: 42 }).returning();
 *   await addMessage(tx, { topic: 'orders', key: String(order!.id), payload: { type: 'OrderPlaced', order: order! } });
 * });
 * ```
 */
export async function addMessage(
  tx: DrizzlePgDatabase,
  messages: NewMessage | readonly NewMessage[],
  options: AddMessageOptions = {},
): Promise<number> {
  const outbox = options.outbox ?? outboxFor(options);
  return outbox.add({ query: drizzleQuery(tx) }, messages);
}
