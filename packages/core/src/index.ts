export {
  type Mysql2ConnectionLike,
  type Mysql2PoolConnectionLike,
  type Mysql2PoolConnectionOf,
  type Mysql2PoolLike,
  type Mysql2PoolOptions,
  type Mysql2TransactionOptions,
  mysql2Connection,
  mysql2Pool,
  mysql2Transaction,
} from './adapters/mysql2.js';
export {
  type PgClientLike,
  type PgExecutorOptions,
  type PgListenClientLike,
  type PgPoolClientLike,
  type PgPoolClientOf,
  type PgPoolExecutorOptions,
  type PgPoolLike,
  type PgTransactionOptions,
  pgClient,
  pgPool,
  pgTransaction,
} from './adapters/pg.js';
export { type PGliteLike, type PGliteQueryable, pglite } from './adapters/pglite.js';
export type {
  Dialect,
  DialectCapabilities,
  MessageFilter,
  MigrateResult,
  Migration,
  OrderedClaimSteps,
  Ordering,
  OutboxStats,
  Outcome,
  Statement,
  TableStatus,
} from './dialect/dialect.js';
export { type MysqlDialectOptions, mysql, mysqlDateTime } from './dialect/mysql.js';
export { advisoryLockKey, type PostgresDialectOptions, postgres } from './dialect/postgres.js';
export type { PartitionSupport } from './dialect/postgres-partitions.js';
export {
  describeError,
  isOutboxError,
  OutboxError,
  type OutboxErrorCode,
  type OutboxErrorContext,
} from './errors.js';
export type { BatchEvent, RelayEventMap } from './events.js';
export { TypedEmitter } from './events.js';
export {
  type Executor,
  type IsolationLevel,
  isTransactional,
  type NotificationSubscription,
  type QueryOptions,
  type QueryResult,
  type TransactionalExecutor,
  type TransactionOptions,
  type TransactionState,
} from './executor.js';
export { quoteMysql, quotePg, validateIdentifier } from './identifiers.js';
export {
  type ContentType,
  defaultMessageLimits,
  type EncodedMessage,
  encodeMessage,
  encodeMessages,
  type JsonValue,
  type MessageLimits,
  type MessageStatus,
  type NewMessage,
  type OutboxMessage,
  payloadJson,
  payloadText,
  type StoredMessage,
} from './message.js';
export { type OptionChecks, optionChecks, optionNames, rejectUnknownOptions } from './options.js';
export {
  checkTransaction,
  createOutbox,
  insertChunks,
  type Outbox,
  type OutboxOptions,
  type WriteOptions,
  writeMessages,
} from './outbox.js';
export {
  type IntervalJob,
  type IntervalJobOptions,
  type KeptPartition,
  type PartitionCalendar,
  type PartitionedStore,
  type PartitionInfo,
  type PartitionInterval,
  type PartitionListing,
  type PartitionMaintenanceOptions,
  type PartitionMaintenanceReport,
  type PartitionOptions,
  type PrunableStore,
  partitionCalendar,
  type ResolvedPartitionOptions,
  resolvePartitionOptions,
  startPartitionMaintenance,
  startPruning,
} from './partitions.js';
export {
  createRelay,
  type Relay,
  type RelayLogger,
  type RelayOptions,
  type RelayState,
  type ResolvedRelayOptions,
  type RunSummary,
  resolveRelayOptions,
} from './relay.js';
export {
  type BackoffOptions,
  backoffDelay,
  defaultBackoff,
  MAX_DELAY_MS,
  resolveBackoff,
  retryDelay,
  storableDelay,
} from './retry.js';
export {
  countResults,
  dead,
  deliveryHeaders,
  failAll,
  retry,
  type SendContext,
  type Sender,
  type SendResult,
  sent,
  settleEach,
} from './sender.js';
export {
  type DeadLetterSelector,
  type MessageCount,
  type MessageStore,
  type PruneKeysOptions,
  type PruneOptions,
  resolveLimits,
  SqlMessageStore,
  type SqlMessageStoreOptions,
} from './store.js';
export {
  type BacklogGaugeOptions,
  type BatchTelemetry,
  backlogGauges,
  formatTraceparent,
  noTelemetry,
  parseTraceparent,
  type RelayTelemetry,
  relayTelemetry,
  type TelemetryOptions,
  withTraceContext,
} from './telemetry.js';
