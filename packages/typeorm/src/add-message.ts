import { type NewMessage, OutboxError } from '@troutbox/core';
import { checkWrite, entityManagerExecutor } from './executor.js';
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
 * commit or roll back with everything else done through it. A manager outside a transaction
 * (`dataSource.manager`, or a query runner's manager with no transaction started) is refused
 * before any SQL, since its insert would commit on its own whatever the business change does —
 * unless `autocommit: true` is in the options (`options`, or the registered subscriber's when
 * there are none). A manager whose transaction is over (kept after `dataSource.transaction`
 * returned) is always refused.
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
 * @throws OutboxError `NOT_IN_TRANSACTION` (see above), `INVALID_OPTION`, `INVALID_MESSAGE`,
 * `PAYLOAD_TOO_LARGE`, `UNSERIALIZABLE_PAYLOAD`, all before anything is written
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
  const { dataSource } = manager;
  const subscriber = dataSource.subscribers.find(isOutboxSubscriber);
  const viaSubscriber = subscriber !== undefined && options === undefined;
  const outbox = viaSubscriber ? subscriber.outboxFor(dataSource) : outboxFor(dataSource, options);
  const db = entityManagerExecutor(manager);
  // Before anything else: a manager outside a transaction, or whose transaction is over, never
  // writes (the root manager would commit each message on its own, whatever the business
  // change does), unless autocommit was asked for where the options are.
  checkWrite(db, 'addMessage', (viaSubscriber ? subscriber.options : options)?.autocommit);
  const runner = manager.queryRunner;
  if (viaSubscriber && runner?.isTransactionActive) {
    // Joins the subscriber's batch: one insert for the transaction, in call order with the
    // messages of saved entities, dropped with a savepoint that rolls back.
    return subscriber.write(runner, dataSource, messages);
  }
  const count = await outbox.add(db, messages);
  subscriber?.noteWritten(runner, count);
  return count;
}
