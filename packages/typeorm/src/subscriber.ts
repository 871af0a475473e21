import { type EncodedMessage, type NewMessage, OutboxError } from '@troutbox/core';
import { EventSubscriber } from 'typeorm';
import { checkWrite, queryRunnerExecutor } from './executor.js';
import type { DataSourceLike, QueryRunnerLike } from './handles.js';
import { checkOptions, OutboxCache, SUBSCRIBER_OPTIONS, type TypeormOutboxOptions } from './options.js';

/**
 * An entity that carries outbox messages: the domain code records them on the entity, and the
 * {@link OutboxSubscriber} pulls them when TypeORM has written the entity's row, to write them
 * in the same transaction.
 *
 * `pullOutboxMessages` must return the messages recorded since the last call and forget them,
 * so a second save of the same entity does not write them again.
 *
 * @example
 * ```ts
 * class Order implements HasOutboxMessages {
 *   id!: string;
 *   status = 'new';
 *   #messages: NewMessage[] = [];
 *   place() {
 *     this.status = 'placed';
 *     this.#messages.push({ topic: 'orders', key: this.id, payload: { type: 'OrderPlaced', id: this.id } });
 *   }
 *   pullOutboxMessages() {
 *     return this.#messages.splice(0);
 *   }
 * }
 * ```
 */
export interface HasOutboxMessages {
  pullOutboxMessages(): readonly NewMessage[];
}

/**
 * True when `value` is an entity with {@link HasOutboxMessages.pullOutboxMessages}.
 *
 * @example
 * ```ts
 * if (hasOutboxMessages(entity)) console.log(entity.pullOutboxMessages().length);
 * ```
 */
export function hasOutboxMessages(value: unknown): value is HasOutboxMessages {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Partial<HasOutboxMessages>).pullOutboxMessages === 'function'
  );
}

/** What TypeORM hands the subscriber: the query runner of the save, the data source and the entity. */
export interface SubscriberEventLike {
  readonly queryRunner: QueryRunnerLike;
  readonly dataSource: DataSourceLike;
  readonly entity?: unknown;
}

/** Options of {@link OutboxSubscriber}. */
export interface OutboxSubscriberOptions extends TypeormOutboxOptions {
  /**
   * Called after a transaction that wrote outbox messages (of its entities, or through
   * {@link addMessage}) has committed, with their number. Wire it to
   * `relay.wake()` so a relay in the same process delivers at once instead of at its next poll.
   * Keep it cheap; an error it throws is ignored.
   */
  onCommit?: (count: number) => void;
}

/** Messages of an entity whose save was refused, kept for its next save. */
const refusedMessages = new WeakMap<object, NewMessage[]>();

const BRAND = Symbol.for('troutbox.OutboxSubscriber');

/**
 * Writes the outbox messages of saved entities in the transaction of the save.
 *
 * - After TypeORM inserts, updates, removes, soft-removes or recovers an entity that implements
 *   {@link HasOutboxMessages}, its messages are validated (a bad one fails the save) and kept
 *   for the transaction of that query runner.
 * - Just before the outermost COMMIT, everything kept for the transaction is written as one
 *   multi-row insert through the same query runner: the messages commit or roll back with the
 *   entities. A `save()` without an explicit transaction gets TypeORM's own transaction.
 * - Nested transactions (savepoints): messages kept inside a nested transaction join the outer
 *   one when it is released, and are dropped when it rolls back.
 * - A save outside any transaction (`save(entity, { transaction: false })`) writes its messages
 *   at once, on their own: there is no transaction to join.
 *
 * TypeORM builds subscribers from classes, so register it through {@link outboxSubscriber},
 * which returns a configured class, or subclass it with `@EventSubscriber()`.
 *
 * @example
 * ```ts
 * new DataSource({ type: 'postgres', url, subscribers: [outboxSubscriber({ schema: 'app' })] });
 * // or
 * @EventSubscriber()
 * class AppOutbox extends OutboxSubscriber {
 *   constructor() {
 *     super({ schema: 'app' });
 *   }
 * }
 * ```
 */
export class OutboxSubscriber {
  readonly [BRAND] = true;
  /** The options this subscriber writes with; {@link addMessage} uses them too. */
  readonly options: OutboxSubscriberOptions;
  readonly #outboxes: OutboxCache;
  // Per query runner (one connection), one list of pending messages per open transaction level.
  readonly #pending = new WeakMap<QueryRunnerLike, EncodedMessage[][]>();
  // Messages written in the open transaction of a query runner, for onCommit.
  readonly #written = new WeakMap<QueryRunnerLike, number>();

  constructor(options?: OutboxSubscriberOptions) {
    this.options = checkOptions(options, 'OutboxSubscriber', SUBSCRIBER_OPTIONS);
    if (this.options.onCommit !== undefined && typeof this.options.onCommit !== 'function') {
      throw new OutboxError('INVALID_OPTION', 'OutboxSubscriber: onCommit must be a function');
    }
    this.#outboxes = new OutboxCache(this.options);
  }

  /** The outbox for a data source, cached per driver type. @internal */
  outboxFor(dataSource: DataSourceLike) {
    return this.#outboxes.for(dataSource.options.type);
  }

  /** Count messages written on `queryRunner`, for onCommit. @internal */
  noteWritten(queryRunner: QueryRunnerLike | undefined, count: number): void {
    if (!this.options.onCommit || count === 0) return;
    if (!queryRunner?.isTransactionActive) {
      this.#notify(count);
      return;
    }
    this.#written.set(queryRunner, (this.#written.get(queryRunner) ?? 0) + count);
  }

  #notify(count: number): void {
    try {
      this.options.onCommit?.(count);
    } catch {
      // A wake-up hook must never fail a transaction that has already committed.
    }
  }

  afterTransactionStart(event: SubscriberEventLike): void {
    let levels = this.#pending.get(event.queryRunner);
    if (!levels) {
      levels = [];
      this.#pending.set(event.queryRunner, levels);
    }
    levels.push([]);
  }

  beforeInsert(event: SubscriberEventLike): void {
    this.#refuseOutsideTransaction(event);
  }

  beforeUpdate(event: SubscriberEventLike): void {
    this.#refuseOutsideTransaction(event);
  }

  beforeRemove(event: SubscriberEventLike): void {
    this.#refuseOutsideTransaction(event);
  }

  beforeSoftRemove(event: SubscriberEventLike): void {
    this.#refuseOutsideTransaction(event);
  }

  beforeRecover(event: SubscriberEventLike): void {
    this.#refuseOutsideTransaction(event);
  }

  afterInsert(event: SubscriberEventLike): Promise<void> {
    return this.#collect(event);
  }

  afterUpdate(event: SubscriberEventLike): Promise<void> {
    return this.#collect(event);
  }

  afterRemove(event: SubscriberEventLike): Promise<void> {
    return this.#collect(event);
  }

  afterSoftRemove(event: SubscriberEventLike): Promise<void> {
    return this.#collect(event);
  }

  afterRecover(event: SubscriberEventLike): Promise<void> {
    return this.#collect(event);
  }

  async beforeTransactionCommit(event: SubscriberEventLike): Promise<void> {
    const levels = this.#pending.get(event.queryRunner);
    // Only the outermost commit writes; a savepoint release hands its messages to the level
    // below once the release has succeeded (afterTransactionCommit).
    if (levels?.length !== 1) return;
    const batch = levels[0]!;
    if (batch.length === 0) return;
    levels[0] = [];
    await this.outboxFor(event.dataSource).insertEncoded(queryRunnerExecutor(event.queryRunner), batch);
    this.noteWritten(event.queryRunner, batch.length);
  }

  afterTransactionCommit(event: SubscriberEventLike): void {
    const levels = this.#pending.get(event.queryRunner);
    if (!levels) return;
    const done = levels.pop();
    if (levels.length === 0) {
      this.#pending.delete(event.queryRunner);
      const written = this.#written.get(event.queryRunner);
      this.#written.delete(event.queryRunner);
      if (written) this.#notify(written);
    } else if (done && done.length > 0) {
      levels.at(-1)!.push(...done);
    }
  }

  afterTransactionRollback(event: SubscriberEventLike): void {
    const levels = this.#pending.get(event.queryRunner);
    if (!levels) return;
    levels.pop();
    if (levels.length === 0) {
      this.#pending.delete(event.queryRunner);
      this.#written.delete(event.queryRunner);
    }
  }

  async #collect(event: SubscriberEventLike): Promise<void> {
    const entity = event.entity;
    if (!hasOutboxMessages(entity)) return;
    await this.write(event.queryRunner, event.dataSource, pullMessages(entity));
  }

  // An entity with messages written outside a transaction: its row would commit at once and
  // its messages on their own after it, so refuse before the row is written — unless the user
  // asked for autocommit. The pulled messages stay with the entity for its next save.
  #refuseOutsideTransaction(event: SubscriberEventLike): void {
    if (this.options.autocommit === true || event.queryRunner.isTransactionActive) return;
    const entity = event.entity;
    if (!hasOutboxMessages(entity)) return;
    const messages = pullMessages(entity);
    if (messages.length === 0) return;
    refusedMessages.set(entity, messages);
    throw new OutboxError(
      'NOT_IN_TRANSACTION',
      `OutboxSubscriber: an entity with ${messages.length} outbox message(s) is being written outside a transaction (save with { transaction: false }, or the root manager's insert/update), so its messages would commit on their own; write it in a transaction (save() opens one by default), or pass autocommit: true to outboxSubscriber`,
      { operation: 'OutboxSubscriber' },
    );
  }

  /**
   * Validate `messages`, then keep them for the open transaction of `queryRunner` (written at
   * its commit, in the order they came), or write them at once when there is none.
   * @internal {@link addMessage} goes through here so explicit and entity messages keep one order.
   */
  async write(
    queryRunner: QueryRunnerLike,
    dataSource: DataSourceLike,
    messages: NewMessage | readonly NewMessage[],
  ): Promise<number> {
    const outbox = this.outboxFor(dataSource);
    // Validate now, so an invalid message fails the call (or the save) that produced it.
    const encoded = outbox.encode(messages);
    if (encoded.length === 0) return 0;
    const levels = this.#pending.get(queryRunner);
    if (queryRunner.isTransactionActive && levels && levels.length > 0) {
      levels.at(-1)!.push(...encoded);
      return encoded.length;
    }
    const db = queryRunnerExecutor(queryRunner);
    checkWrite(db, 'OutboxSubscriber', this.options.autocommit);
    await outbox.insertEncoded(db, encoded);
    this.noteWritten(queryRunner, encoded.length);
    return encoded.length;
  }
}

/** The messages an entity recorded, and those of a refused save of it, oldest first. */
function pullMessages(entity: HasOutboxMessages): NewMessage[] {
  const pulled = entity.pullOutboxMessages();
  if (!Array.isArray(pulled)) {
    throw new OutboxError('INVALID_MESSAGE', 'pullOutboxMessages() must return an array of messages');
  }
  const kept = refusedMessages.get(entity);
  if (!kept) return [...pulled];
  refusedMessages.delete(entity);
  return [...kept, ...pulled];
}

/**
 * True when `value` is an {@link OutboxSubscriber} (from any copy of this package).
 *
 * @example
 * ```ts
 * const registered = dataSource.subscribers.some(isOutboxSubscriber);
 * ```
 */
export function isOutboxSubscriber(value: unknown): value is OutboxSubscriber {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}

/** The class {@link outboxSubscriber} returns: TypeORM constructs it without arguments. */
export type OutboxSubscriberClass = new () => OutboxSubscriber;

/**
 * A configured {@link OutboxSubscriber} class to list in the data source's `subscribers`.
 * TypeORM 1.x takes subscriber classes (or paths), never instances, and constructs them itself
 * with no arguments; this returns a subclass that carries the options and is registered the way
 * `@EventSubscriber()` registers a class.
 *
 * @example
 * ```ts
 * const dataSource = new DataSource({
 *   type: 'postgres',
 *   url: process.env.DATABASE_URL,
 *   entities: [Order],
 *   subscribers: [outboxSubscriber({ schema: 'app', table: 'outbox' })],
 * });
 * ```
 */
export function outboxSubscriber(options?: OutboxSubscriberOptions): OutboxSubscriberClass {
  const checked = new OutboxSubscriber(options).options;
  class ConfiguredOutboxSubscriber extends OutboxSubscriber {
    constructor() {
      super(checked);
    }
  }
  EventSubscriber()(ConfiguredOutboxSubscriber);
  return ConfiguredOutboxSubscriber;
}
