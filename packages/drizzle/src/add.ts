import { createOutbox, type NewMessage, type Outbox, OutboxError } from '@troutbox/core';
import {
  type DrizzleDatabase,
  type DrizzleDialect,
  type DrizzleMySqlDatabase,
  type DrizzlePgDatabase,
  drizzleDialectOf,
} from './dialect.js';
import { drizzleQuery } from './executor.js';
import { databaseName, type MySqlOutboxTableOptions } from './mysql-schema.js';
import { type OutboxTableOptions, schemaName } from './schema.js';

/** Options of {@link addMessage} on PostgreSQL. */
export interface AddMessageOptions extends OutboxTableOptions {
  /**
   * A core outbox to write with, from `createOutbox({ dialect: postgres(…), onAdd, limits })`:
   * for a relay woken in the same process (`onAdd: () => relay.wake()`) or other limits.
   * When given, its dialect names the table and `schema`/`table` are ignored.
   */
  outbox?: Outbox;
}

/** Options of {@link addMessage} on MySQL or MariaDB. */
export interface MySqlAddMessageOptions extends MySqlOutboxTableOptions {
  /**
   * A core outbox to write with, from `createOutbox({ dialect: mysql(…), onAdd, limits })`.
   * When given, its dialect names the table and `database`/`table` are ignored.
   */
  outbox?: Outbox;
}

// One outbox per database kind and table: the dialect validates and renders its SQL once, not
// per call.
const outboxes = new Map<string, Outbox>();

function outboxFor(kind: DrizzleDialect, options: AddMessageOptions & MySqlAddMessageOptions): Outbox {
  const namespace = kind.name === 'postgres' ? schemaName(options.schema) : databaseName(options.database);
  const key = `${kind.name}\u0000${namespace ?? ''}\u0000${options.table ?? 'outbox_messages'}`;
  let outbox = outboxes.get(key);
  if (outbox === undefined) {
    outbox = createOutbox({ dialect: kind.dialect({ namespace, table: options.table }) });
    outboxes.set(key, outbox);
  }
  return outbox;
}

/**
 * Write one message, or many in one statement, in the caller's drizzle transaction: the message
 * commits or rolls back with the business change. Every message is validated first; nothing is
 * written when any is invalid (an `OutboxError`). Outside a transaction it is one atomic insert.
 *
 * Works with any PostgreSQL drizzle database or transaction (node-postgres, postgres-js, PGlite)
 * and with MySQL or MariaDB ones (mysql2); the database's kind picks core's dialect.
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
export function addMessage(
  tx: DrizzlePgDatabase,
  messages: NewMessage | readonly NewMessage[],
  options?: AddMessageOptions,
): Promise<number>;
/**
 * Write one message, or many in one statement, in the caller's MySQL or MariaDB drizzle
 * transaction. `options.database` and `options.table` name the table, as in `mysql()`.
 *
 * @example
 * ```ts
 * await db.transaction(async (tx) => {
 *   const [order] = await tx.insert(orders).values({ total: 42 }).$returningId();
 *   await addMessage(tx, { topic: 'orders', key: String(order!.id), payload: { type: 'OrderPlaced', id: order!.id } });
 * });
 * ```
 */
export function addMessage(
  tx: DrizzleMySqlDatabase,
  messages: NewMessage | readonly NewMessage[],
  options?: MySqlAddMessageOptions,
): Promise<number>;
export async function addMessage(
  tx: DrizzleDatabase,
  messages: NewMessage | readonly NewMessage[],
  options: AddMessageOptions & MySqlAddMessageOptions = {},
): Promise<number> {
  const kind = drizzleDialectOf(tx);
  const outbox = options.outbox ?? outboxFor(kind, options);
  // A PostgreSQL outbox's SQL on MySQL would fail as a syntax error mid-transaction; say why now.
  if (outbox.dialect.name !== kind.name) {
    throw new OutboxError(
      'INVALID_OPTION',
      `options.outbox writes with the ${outbox.dialect.name} dialect, but the drizzle database is ${kind.name}`,
    );
  }
  return outbox.add({ query: drizzleQuery(tx) }, messages);
}
