// Types only: the factories import this module at run time, never the reverse.
import type { Mysql2PoolOptions, Mysql2TransactionOptions } from './adapters/mysql2.js';
import type { PgExecutorOptions, PgPoolExecutorOptions, PgTransactionOptions } from './adapters/pg.js';
import type { MysqlDialectOptions } from './dialect/mysql.js';
import type { PostgresDialectOptions } from './dialect/postgres.js';
import { OutboxError } from './errors.js';
import type { MessageLimits } from './message.js';
import type { OutboxOptions } from './outbox.js';
import type { PartitionOptions } from './partitions.js';
import type { RelayOptions } from './relay.js';
import type { BackoffOptions } from './retry.js';
import type { SqlMessageStoreOptions } from './store.js';

/** The checks every options resolver uses, each throwing `OutboxError('INVALID_OPTION')`. */
export interface OptionChecks {
  /** Throw an `INVALID_OPTION` error with the owner's prefix. */
  invalid(message: string): never;
  /** An integer ≥ `min` (default 1), or `fallback` when undefined. */
  positiveInt(value: unknown, name: string, fallback: number, min?: number): number;
  /** A string, or undefined. */
  optionalString(value: unknown, name: string): string | undefined;
}

/**
 * Option checks whose errors name their owner (`natsSender: concurrency must be …`), for
 * packages that resolve options once into a frozen object.
 *
 * @example
 * ```ts
 * const { invalid, positiveInt } = optionChecks('webhookSender');
 * const concurrency = positiveInt(options.concurrency, 'concurrency', 16);
 * ```
 */
export function optionChecks(owner?: string): OptionChecks {
  const prefix = owner ? `${owner}: ` : '';
  const invalid = (message: string): never => {
    throw new OutboxError('INVALID_OPTION', `${prefix}${message}`);
  };
  return {
    invalid,
    positiveInt(value, name, fallback, min = 1) {
      if (value === undefined) return fallback;
      if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
        invalid(`${name} must be an integer ≥ ${min}, got ${String(value)}`);
      }
      return value as number;
    },
    optionalString(value, name) {
      if (value === undefined) return undefined;
      if (typeof value !== 'string') invalid(`${name} must be a string, got ${typeof value}`);
      return value as string;
    },
  };
}

/**
 * Refuse option names that `owner` does not know: a misspelt name (`pollIntervalMS`) or one
 * meant for another factory would otherwise be ignored without a word, and the default used.
 * Anything but a plain object is left to the owner's own checks.
 *
 * @example
 * ```ts
 * rejectUnknownOptions('createRelay', options, optionNames.createRelay);
 * // OutboxError INVALID_OPTION: createRelay: unknown option "pollIntervalMS" (did you mean pollIntervalMs?)
 * ```
 * @throws OutboxError `INVALID_OPTION`
 */
export function rejectUnknownOptions(
  owner: string,
  options: unknown,
  known: Readonly<Record<string, true>>,
): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) return;
  for (const name of Object.keys(options)) {
    if (Object.hasOwn(known, name)) continue;
    const names = Object.keys(known);
    // A different case, a few letters off, or the start of a longer name.
    const lower = name.toLowerCase();
    const near =
      names.find((k) => k.toLowerCase() === lower) ??
      names.find((k) => distance(k.toLowerCase(), lower) <= Math.max(2, name.length >> 2)) ??
      names.find((k) => lower.length >= 4 && k.toLowerCase().startsWith(lower));
    throw new OutboxError(
      'INVALID_OPTION',
      `${owner}: unknown option ${JSON.stringify(name)}${near ? ` (did you mean ${near}?)` : ''}; it takes ${names.join(', ')}`,
    );
  }
}

/** Edit distance, for suggestions. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        previous[j]! + 1,
        row[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = row;
  }
  return previous[b.length]!;
}

/**
 * Every option name of core's factories, for {@link rejectUnknownOptions}. Each list is checked
 * against its options type by the compiler, so adding an option without listing it here (or
 * listing one that does not exist) fails the type check.
 */
export const optionNames = Object.freeze({
  createOutbox: {
    dialect: true,
    limits: true,
    onAdd: true,
    traceContext: true,
    autocommit: true,
  } satisfies Names<OutboxOptions>,
  SqlMessageStore: {
    dialect: true,
    db: true,
    limits: true,
    adminBatchSize: true,
    autocommit: true,
  } satisfies Names<SqlMessageStoreOptions>,
  createRelay: {
    store: true,
    sender: true,
    batchSize: true,
    concurrency: true,
    pollIntervalMs: true,
    maxAttempts: true,
    backoff: true,
    sendTimeoutMs: true,
    stopTimeoutMs: true,
    errorDelayMs: true,
    onError: true,
    closeSender: true,
    maxErrorLength: true,
    listen: true,
    listenRetryDelayMs: true,
    telemetry: true,
    logger: true,
  } satisfies Names<RelayOptions>,
  backoff: {
    initialDelayMs: true,
    factor: true,
    maxDelayMs: true,
    jitter: true,
  } satisfies Names<BackoffOptions>,
  limits: {
    maxPayloadBytes: true,
    maxTopicLength: true,
    maxKeyLength: true,
    maxHeaderBytes: true,
  } satisfies Names<MessageLimits>,
  postgres: {
    schema: true,
    table: true,
    partitioned: true,
    ordering: true,
    notify: true,
  } satisfies Names<PostgresDialectOptions>,
  mysql: {
    database: true,
    table: true,
    lockTimeoutSeconds: true,
    ordering: true,
  } satisfies Names<MysqlDialectOptions>,
  partitioned: { interval: true, premake: true, retention: true } satisfies Names<PartitionOptions>,
  notify: { minIntervalMs: true } as const,
  pgClient: { prepare: true } satisfies Names<PgExecutorOptions>,
  pgPool: { prepare: true, onConnectionError: true } satisfies Names<PgPoolExecutorOptions>,
  mysql2Pool: { onConnectionError: true } satisfies Names<Mysql2PoolOptions>,
  pgTransaction: { isolationLevel: true, onConnectionError: true } satisfies Names<PgTransactionOptions>,
  mysql2Transaction: {
    isolationLevel: true,
    onConnectionError: true,
  } satisfies Names<Mysql2TransactionOptions>,
});

type Names<T> = Record<keyof T, true>;
