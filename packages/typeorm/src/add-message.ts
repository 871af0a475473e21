import { type NewMessage, OutboxError } from '@troutbox/core';
import { entityManagerExecutor } from './executor.js';
import type { DataSourceLike, EntityManagerLike } from './handles.js';
import { checkOptions, OutboxCache, type TypeormOutboxOptions, WRITE_OPTIONS } from './options.js';
import { isOutboxSubscriber } from './subscriber.js';

const defaults = new OutboxCache({});
const byOptions = new WeakMap<TypeormOutboxOptions, OutboxCache>();

function outboxFor(dataSource: DataSourceLike, options: TypeormOutboxOptions | undefined) {
  if (options !== undefined) {
    let cache = byOptions.get(options);
    if (!cache) {
      cache = new OutboxCache(checkOptions(options, 'addMessage', WRITE_OPTIONS));
      byOptions.set(options, cache);
    }
    return cache.for(dataSource.options.type);
  }
  return defaults.for(dataSource.options.type);
}

/**
 * Write one message or many in the transaction of `manager`.
 *
 * Pass the manager that `dataSource.transaction(async (manager) => …)` hands you: the messages
 * commit or roll back with everything else done through it. On a manager outside a transaction
 * (`dataSource.manager`) the insert commits on its own.
 *
 * Without `options`, the table is the one of the {@link OutboxSubscriber} registered on the data
 * source, and inside a transaction the messages join the subscriber's batch: written at commit
 * in one insert with the messages of saved entities, in the order they were added (so per-key
 * order holds), and dropped with a nested transaction that rolls back. Without a subscriber the
 * table is `outbox_messages` (in `public` on PostgreSQL, in the connection's database on MySQL),
 * and with `options` it is the one they name; the messages are then written at once, in one
 * statement.
 *
 * @returns the number of messages written
 * @throws OutboxError `INVALID_MESSAGE`, `PAYLOAD_TOO_LARGE`, `UNSERIALIZABLE_PAYLOAD` before
 * anything is written
 *
 * @example
 * ```ts
 * await dataSource.transaction(async (manager) => {
 *   const order = await manager.save(Order, { total: 42 });
 *   await addMessage(manager, { topic: 'orders', key: order.id, payload: { type: 'OrderPlaced', order } });
 * });
 * ```
 */
export async function addMessage(
  manager: EntityManagerLike,
  messages: NewMessage | readonly NewMessage[],
  options?: TypeormOutboxOptions,
): Promise<number> {
  if (typeof manager?.dataSource?.createQueryRunner !== 'function') {
    throw new OutboxError('INVALID_OPTION', 'addMessage needs a TypeORM EntityManager as its first argument');
  }
  const subscriber = manager.dataSource.subscribers.find(isOutboxSubscriber);
  const runner = manager.queryRunner;
  if (subscriber && options === undefined && runner && !runner.isReleased) {
    // Joins the subscriber's batch: one insert for the transaction, in call order with the
    // messages of saved entities, dropped with a savepoint that rolls back.
    return subscriber.write(runner, manager.dataSource, messages);
  }
  const outbox =
    subscriber && options === undefined
      ? subscriber.outboxFor(manager.dataSource)
      : outboxFor(manager.dataSource, options);
  const count = await outbox.add(entityManagerExecutor(manager), messages);
  subscriber?.noteWritten(runner, count);
  return count;
}
