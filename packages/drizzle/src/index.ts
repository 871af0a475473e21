/**
 * Drizzle ORM support for the troutbox transactional outbox on PostgreSQL and MySQL / MariaDB:
 * the outbox table as a drizzle table object (`outboxTable`, `mysqlOutboxTable`), its migrations
 * for drizzle's `migrate()`, `addMessage(tx, …)` for drizzle transactions, and an executor for
 * the relay.
 * @packageDocumentation
 */
export { type AddMessageOptions, addMessage, type MySqlAddMessageOptions } from './add.js';
export type { DrizzleDatabase, DrizzleMySqlDatabase, DrizzlePgDatabase } from './dialect.js';
export { type DrizzleExecutorOptions, drizzleExecutor } from './executor.js';
export {
  type DrizzleMigrations,
  drizzleMigrations,
  type Journal,
  type JournalEntry,
  migrationsFolder,
  mysqlDrizzleMigrations,
  mysqlMigrationsFolder,
  mysqlOutboxMigrations,
  outboxMigrations,
} from './migrations.js';
export {
  type MySqlOutboxColumns,
  type MySqlOutboxTable,
  type MySqlOutboxTableOptions,
  mysqlOutboxTable,
} from './mysql-schema.js';
export { type OutboxColumns, type OutboxTable, type OutboxTableOptions, outboxTable } from './schema.js';
export { type PlaceholderStyle, toDrizzleSql } from './sql.js';
