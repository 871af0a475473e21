/**
 * Kysely support for the troutbox transactional outbox: `addMessage(trx, message)` in Kysely's
 * own transactions, a `MigrationProvider` for Kysely's `Migrator`, and an executor over a
 * `Kysely` instance for the relay.
 * @packageDocumentation
 */
export type {
  KyselyDialectObjectOptions,
  KyselyMysqlOptions,
  KyselyPostgresOptions,
  OutboxDialectName,
  OutboxDialectOptions,
  OutboxTableOptions,
} from './dialect.js';
export {
  type KyselyLike,
  type KyselyTransactionBuilderLike,
  type KyselyTransactionLike,
  kyselyExecutor,
} from './executor.js';
export {
  type KyselyMigration,
  type KyselyMigrationProvider,
  mergeMigrationProviders,
  type OutboxMigrationProvider,
  outboxMigrations,
  outboxMigratorTables,
} from './migrations.js';
export {
  addMessage,
  type KyselyOutbox,
  type KyselyOutboxOptions,
  kyselyOutbox,
  type OutboxWriteOptions,
} from './outbox.js';
