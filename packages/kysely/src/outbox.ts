import {
  createOutbox,
  type Dialect,
  type MessageLimits,
  type NewMessage,
  SqlMessageStore,
  writeMessages,
} from '@troutbox/core';
import { type OutboxDialectOptions, resolveDialect } from './dialect.js';
import { checkKysely, type KyselyLike, kyselyExecutor } from './executor.js';
import { migrationsFor, type OutboxMigrationProvider } from './migrations.js';

/** What {@link kyselyOutbox} takes besides the dialect and its table. */
export interface OutboxWriteOptions {
  /** Limits checked before anything is written. @defaultValue core's `defaultMessageLimits` */
  limits?: Partial<MessageLimits>;
  /**
   * Called after each successful `addMessage` (before the caller's commit, which troutbox does
   * not see), with the number of messages. Use it to `wake()` a relay in the same process.
   */
  onAdd?: (count: number) => void;
  /**
   * Accept `addMessage` (and `store(db).add`) on a plain `Kysely` instance, where each write
   * commits on its own whatever your transaction does. Off by default: such a write is refused
   * with `OutboxError` `NOT_IN_TRANSACTION` before any SQL. A transaction that has already
   * committed or rolled back is refused either way.
   * @defaultValue false
   */
  autocommit?: boolean;
}

/** Names of {@link OutboxWriteOptions}, for the check of option names. */
const writeOptionNames = Object.keys({
  limits: true,
  onAdd: true,
  autocommit: true,
} satisfies Record<keyof OutboxWriteOptions, true>);

/**
 * Options of {@link kyselyOutbox}: the database and its dialect's options (`schema`, `table`,
 * `ordering`, …) or a core `Dialect`, plus {@link OutboxWriteOptions}. An unknown option name is
 * an `INVALID_OPTION` error.
 */
export type KyselyOutboxOptions = OutboxDialectOptions & OutboxWriteOptions;

/** The outbox of one table, for Kysely. */
export interface KyselyOutbox {
  /** Core's dialect for the table: its SQL, its migrations. */
  readonly dialect: Dialect;
  /**
   * Write one message or many on `db`, in one statement. Pass the `trx` of
   * `db.transaction().execute(async (trx) => …)` or a `ControlledTransaction`, and the messages
   * commit or roll back with the business change. A plain `Kysely` instance is refused with
   * `NOT_IN_TRANSACTION` unless the outbox was made with `autocommit: true` (then the write is
   * atomic on its own), and so is a transaction that has ended. Every message is validated, and
   * the handle checked, before anything is written.
   * @returns the number of messages written
   */
  addMessage(db: KyselyLike, messages: NewMessage | readonly NewMessage[]): Promise<number>;
  /** A message store on a `Kysely` instance, for `createRelay` and the admin methods. */
  store(db: KyselyLike): SqlMessageStore;
  /** The table's migrations, for Kysely's `Migrator`. */
  migrations(): OutboxMigrationProvider;
}

/**
 * The outbox of one table, for Kysely: `addMessage`, a store for the relay, and migrations.
 * For the default table (`public.outbox_messages`) the top-level {@link addMessage} is enough.
 * The dialect's options go beside the others (`ordering: 'key'`, `notify`, `partitioned` on
 * PostgreSQL; `ordering`, `lockTimeoutSeconds` on MySQL), or come in a core dialect
 * (`dialect: postgres({ … })`). Producers and relays of one table must agree on them.
 *
 * @example
 * ```ts
 * const outbox = kyselyOutbox({ schema: 'app', table: 'outbox', ordering: 'key' });
 * await db.transaction().execute(async (trx) => {
 *   await trx.insertInto('order').values(order).execute();
 *   await outbox.addMessage(trx, { topic: 'orders', key: order.id, payload: order });
 * });
 * const relay = createRelay({ store: outbox.store(db), sender });
 * ```
 */
export function kyselyOutbox(options: KyselyOutboxOptions = {}): KyselyOutbox {
  const { dialect, schema } = resolveDialect(options, 'kyselyOutbox', writeOptionNames);
  const { limits, onAdd, autocommit } = options;
  // createOutbox checks limits, onAdd and autocommit, and encodes; the write itself goes through
  // writeMessages so that a refusal names addMessage.
  const outbox = createOutbox({ dialect, limits, onAdd, autocommit });
  const write = { caller: 'addMessage', autocommit: autocommit === true };
  return {
    dialect,
    async addMessage(db, messages) {
      checkKysely(db, 'addMessage');
      const encoded = outbox.encode(messages);
      // Core refuses a plain Kysely (autocommit) or an ended transaction before any SQL. With
      // autocommit allowed, the executor of a plain Kysely is transactional, so core gives a
      // write of more than one statement a transaction of its own; on a transaction it writes in
      // the caller's.
      await writeMessages(dialect, kyselyExecutor(db), encoded, write);
      if (encoded.length > 0) {
        try {
          onAdd?.(encoded.length);
        } catch {
          // A wake-up hint must never fail (and so roll back) the caller's business transaction.
        }
      }
      return encoded.length;
    },
    store(db) {
      return new SqlMessageStore({ dialect, db: kyselyExecutor(db), limits, autocommit });
    },
    migrations: () => migrationsFor(dialect, schema),
  };
}

let defaultOutbox: KyselyOutbox | undefined;

/**
 * Write one message or many into `public.outbox_messages`, in the caller's Kysely transaction.
 * One statement however many messages; every message is validated first, and nothing is written
 * if one is invalid. A plain `Kysely` instance, or a transaction that has already committed or
 * rolled back, is refused with `OutboxError` `NOT_IN_TRANSACTION` before any SQL. For another
 * table, or to allow autocommit writes, use {@link kyselyOutbox}.
 *
 * @example
 * ```ts
 * await db.transaction().execute(async (trx) => {
 *   await trx.insertInto('order').values(order).execute();
 *   await addMessage(trx, { topic: 'orders', key: order.id, payload: { type: 'OrderPlaced', order } });
 * });
 *
 * const trx = await db.startTransaction().execute();
 * await addMessage(trx, [{ topic: 'a', payload: 1 }, { topic: 'b', payload: 2 }]);
 * await trx.commit().execute();
 * ```
 * @returns the number of messages written
 */
export function addMessage(db: KyselyLike, messages: NewMessage | readonly NewMessage[]): Promise<number> {
  defaultOutbox ??= kyselyOutbox();
  return defaultOutbox.addMessage(db, messages);
}
