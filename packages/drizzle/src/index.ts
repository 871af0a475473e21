/**
 * Drizzle ORM support for the troutbox transactional outbox on PostgreSQL: the outbox table as a
 * drizzle table object, its migrations for drizzle's `migrate()`, `addMessage(tx, …)` for
 * drizzle transactions, and an executor for the relay.
 * @packageDocumentation
 */
export { type AddMessageOptions, addMessage } from './add.js';
export {
  type DrizzleExecutorOptions,
  type DrizzlePgDatabase,
  drizzleExecutor,
} from './executor.js';
export {
  type DrizzleMigrations,
  drizzleMigrations,
  type Journal,
  type JournalEntry,
  migrationsFolder,
  outboxMigrations,
} from './migrations.js';
export { type OutboxColumns, type OutboxTable, type OutboxTableOptions, outboxTable } from './schema.js';
export { type PlaceholderStyle, toDrizzleSql } from './sql.js';
