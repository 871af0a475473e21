import { createOutbox, type Executor, type NewMessage, type Outbox, OutboxError } from '@troutbox/core';
import {
  type DrizzleDatabase,
  type DrizzleDialect,
  type DrizzleMySqlDatabase,
  type DrizzlePgDatabase,
  drizzleDialectOf,
  isDrizzleTransaction,
} from './dialect.js';
import { drizzleQuery, drizzleTransactional, drizzleTransactionState } from './executor.js';
import { databaseName, type MySqlOutboxTableOptions } from './mysql-schema.js';
import { checkOptionNames } from './options.js';
import { type OutboxTableOptions, schemaName } from './schema.js';

/** Options of {@link addMessage} on PostgreSQL. */
export interface AddMessageOptions extends OutboxTableOptions {
  /**
   * A core outbox to write with, from `createOutbox({ dialect: postgres(…), onAdd, limits })`:
   * for a relay woken in the same process (`onAdd: () => relay.wake()`) or other limits.
   * When given, its dialect names the table and `schema`/`table` are ignored, and its own
   * `autocommit` option decides about writes outside a transaction.
   */
  outbox?: Outbox;
  /**
   * Write through the root database too (`addMessage(db, …)`), outside any transaction: each
   * call then commits on its own, whatever your transaction does (a call too large for one
   * INSERT still runs in a transaction of its own). Without it, that is an `OutboxError` with
   * code `NOT_IN_TRANSACTION`, before any SQL. A `tx` whose transaction has ended is refused
   * either way.
   * @defaultValue false
   */
  autocommit?: boolean;
}

/** Options of {@link addMessage} on MySQL or MariaDB. */
export interface MySqlAddMessageOptions extends MySqlOutboxTableOptions {
  /**
   * A core outbox to write with, from `createOutbox({ dialect: mysql(…), onAdd, limits })`.
   * When given, its dialect names the table and `database`/`table` are ignored, and its own
   * `autocommit` option decides about writes outside a transaction.
   */
  outbox?: Outbox;
  /**
   * Write through the root database too, outside any transaction, each call committing on its
   * own (see {@link AddMessageOptions.autocommit}).
   * @defaultValue false
   */
  autocommit?: boolean;
}

// One outbox per database kind and table: the dialect validates and renders its SQL once, not
// per call.
const outboxes = new Map<string, Outbox>();

function outboxFor(kind: DrizzleDialect, options: AddMessageOptions & MySqlAddMessageOptions): Outbox {
  const namespace = kind.name === 'postgres' ? schemaName(options.schema) : databaseName(options.database);
  const autocommit = options.autocommit === true;
  const key = `${kind.name}\u0000${namespace ?? ''}\u0000${options.table ?? 'outbox_messages'}\u0000${autocommit}`;
  let outbox = outboxes.get(key);
  if (outbox === undefined) {
    outbox = createOutbox({ dialect: kind.dialect({ namespace, table: options.table }), autocommit });
    outboxes.set(key, outbox);
  }
  return outbox;
}

const OPTION_NAMES = {
  postgres: ['schema', 'table', 'outbox', 'autocommit'],
  mysql: ['database', 'table', 'outbox', 'autocommit'],
} as const;

function checkAddOptions(kind: DrizzleDialect, options: AddMessageOptions & MySqlAddMessageOptions): void {
  checkOptionNames(`addMessage on ${kind.name}`, options, OPTION_NAMES[kind.name]);
  const { autocommit, outbox } = options;
  if (autocommit !== undefined && typeof autocommit !== 'boolean') {
    throw new OutboxError(
      'INVALID_OPTION',
      `addMessage: autocommit must be a boolean, got ${String(autocommit)}`,
    );
  }
  if (outbox !== undefined) {
    if (typeof outbox?.add !== 'function' || typeof outbox.dialect?.name !== 'string') {
      throw new OutboxError(
        'INVALID_OPTION',
        'addMessage: outbox must be a core outbox (createOutbox({ dialect }))',
      );
    }
    // The outbox was made with its own answer; a second one here could only contradict it.
    if (autocommit !== undefined) {
      throw new OutboxError(
        'INVALID_OPTION',
        'addMessage: with options.outbox, set autocommit where the outbox is created (createOutbox({ dialect, autocommit }))',
      );
    }
  }
}

/**
 * Refuse, before any SQL, a write that would not be part of the caller's transaction; with the
 * drizzle words for it (core's own check, in `outbox.add`, runs again and agrees).
 */
function checkTransaction(db: DrizzleDatabase, autocommit: boolean): void {
  const state = drizzleTransactionState(db);
  if (state === 'ended') {
    throw new OutboxError(
      'NOT_IN_TRANSACTION',
      'addMessage: the transaction of this tx has already committed or rolled back; call addMessage inside the db.transaction callback, with its tx',
      { operation: 'addMessage' },
    );
  }
  if (state === 'autocommit' && !autocommit) {
    throw new OutboxError(
      'NOT_IN_TRANSACTION',
      'addMessage needs the tx of db.transaction(async (tx) => …): through the root database the message would commit on its own, even if your transaction rolls back; pass { autocommit: true } to write outside a transaction on purpose',
      { operation: 'addMessage' },
    );
  }
}

/**
 * Write one message, or many in one statement, in the caller's drizzle transaction: the message
 * commits or rolls back with the business change. Every message is validated first; nothing is
 * written when any is invalid (an `OutboxError`).
 *
 * `tx` must be the transaction drizzle gives `db.transaction(async (tx) => …)` (or a savepoint
 * of it), while that transaction is open. The root database is refused with an `OutboxError`
 * `NOT_IN_TRANSACTION` before any SQL, unless `options.autocommit` is `true`; a `tx` whose
 * transaction has committed or rolled back is always refused.
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
  checkAddOptions(kind, options);
  const outbox = options.outbox ?? outboxFor(kind, options);
  // A PostgreSQL outbox's SQL on MySQL would fail as a syntax error mid-transaction; say why now.
  if (outbox.dialect.name !== kind.name) {
    throw new OutboxError(
      'INVALID_OPTION',
      `options.outbox writes with the ${outbox.dialect.name} dialect, but the drizzle database is ${kind.name}`,
    );
  }
  if (options.outbox === undefined) checkTransaction(tx, options.autocommit === true);
  // A root database (autocommit opted in) can open a transaction, and core opens one for a call
  // that takes more than one INSERT, so that call is all or nothing too.
  const db: Executor = isDrizzleTransaction(tx)
    ? { query: drizzleQuery(tx), transactionState: () => drizzleTransactionState(tx) }
    : drizzleTransactional(tx);
  return outbox.add(db, messages);
}
