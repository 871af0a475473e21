/**
 * TypeORM 1.x for the troutbox transactional outbox: a subscriber that writes the outbox
 * messages of saved entities in the transaction of the save, `addMessage(manager, …)` for
 * explicit writes, the outbox entity and migrations, and an executor that runs the relay on
 * TypeORM's pool.
 * @packageDocumentation
 */
export { addMessage } from './add-message.js';
export {
  OutboxMessage,
  type OutboxMessageEntity,
  type OutboxMessageEntityOptions,
  type OutboxMessageRow,
  outboxMessageEntity,
} from './entity.js';
export { entityManagerExecutor, queryRunnerExecutor, typeormExecutor } from './executor.js';
export type {
  DataSourceLike,
  EntityManagerLike,
  QueryRunnerLike,
  StructuredResultLike,
  TransactionIsolationLevel,
} from './handles.js';
export {
  createOutboxMigrations,
  type OutboxMigration,
  type OutboxMigrationClass,
  type OutboxMigrationOptions,
  type SchemaQueryRunnerLike,
} from './migrations.js';
export { dialectFor, type TypeormOutboxOptions } from './options.js';
export {
  type HasOutboxMessages,
  hasOutboxMessages,
  isOutboxSubscriber,
  OutboxSubscriber,
  type OutboxSubscriberClass,
  type OutboxSubscriberOptions,
  outboxSubscriber,
  type SubscriberEventLike,
} from './subscriber.js';
