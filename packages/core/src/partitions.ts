import { OutboxError } from './errors.js';
import { optionNames, rejectUnknownOptions } from './options.js';

// Partitioned mode's public types, the calendar arithmetic of partition ranges, and the interval
// jobs. The SQL lives in the dialect (dialect/postgres-partitions.ts).

/**
 * The width of one partition. Ranges are aligned in UTC: an hour starts at :00, a day at 00:00,
 * a week on Monday 00:00, a month on the 1st; `{ minutes: n }` (n dividing 1440) is aligned to
 * midnight UTC.
 */
export type PartitionInterval = 'hour' | 'day' | 'week' | 'month' | { readonly minutes: number };

/**
 * Partitioned mode of the PostgreSQL outbox table (`postgres({ partitioned })`), chosen when
 * the table is created. Stored with the table (as its comment), so that maintenance, `partitions()`
 * and the CLI know the interval without being told again.
 *
 * @example
 * ```ts
 * const dialect = postgres({ partitioned: { interval: 'day', premake: 7, retention: 7 } });
 * ```
 */
export interface PartitionOptions {
  /** Width of one partition. @defaultValue `'day'` */
  readonly interval?: PartitionInterval;
  /** Partitions kept ready ahead of the current one. @defaultValue 7 */
  readonly premake?: number;
  /**
   * Past partitions kept, besides the current one: a partition whose range ended more than
   * `retention` intervals before the start of the current one is dropped by maintenance (its
   * pending and dead messages are moved out first). @defaultValue 7
   */
  readonly retention?: number;
}

/** {@link PartitionOptions} with every default filled in. */
export interface ResolvedPartitionOptions {
  readonly interval: PartitionInterval;
  readonly premake: number;
  readonly retention: number;
}

/** One child of a partitioned outbox table, as {@link PartitionInfo} lists it. */
export interface PartitionInfo {
  /** The partition's table name (in the outbox table's schema). */
  readonly name: string;
  /**
   * `range`: a partition maintenance made (its name and bounds match the interval exactly);
   * `default`: the DEFAULT partition; `foreign`: any other child, which maintenance never drops.
   */
  readonly kind: 'range' | 'default' | 'foreign';
  /** Lower bound (inclusive); null for the DEFAULT partition or bounds that are not timestamps. */
  readonly from: Date | null;
  /** Upper bound (exclusive). */
  readonly to: Date | null;
  /** Rows as estimated by the planner's statistics (`pg_class.reltuples`); null before the first ANALYZE. */
  readonly estimatedRows: number | null;
  /** Exact count of pending messages. */
  readonly pending: number;
  /** Exact count of dead messages. */
  readonly dead: number;
  /** The range ended before the retention cutoff. */
  readonly pastRetention: boolean;
  /** The next maintenance run will drop it (after moving out at most `moveLimit` pending and dead messages). */
  readonly droppable: boolean;
}

/** What `partitions()` returns. */
export interface PartitionListing {
  /** False for a plain table: `partitions` is then empty. */
  readonly partitioned: boolean;
  /** The configuration stored with the table (null for a plain table, or one partitioned by hand). */
  readonly options: ResolvedPartitionOptions | null;
  /** The database's clock when listed. */
  readonly now: Date;
  /** Start of the oldest range kept: ranges ending at or before it are past retention. */
  readonly retentionCutoff: Date | null;
  /** Ordered by range, DEFAULT last. */
  readonly partitions: readonly PartitionInfo[];
}

/** Options of one maintenance run. */
export interface PartitionMaintenanceOptions {
  /**
   * The advisory lock id (a signed 64-bit integer) that keeps one maintenance run at a time,
   * across processes. Taken with `pg_try_advisory_xact_lock` inside the run's transaction, so it
   * is released by the commit or rollback, never left on a pooled connection.
   */
  readonly lockId: number | bigint | string;
  /** Overrides the table's stored `premake` for this run. */
  readonly premake?: number;
  /** Overrides the table's stored `retention` for this run. */
  readonly retention?: number;
  /**
   * A partition past retention holding up to this many pending and dead messages has them moved
   * into the DEFAULT partition (same ids, same timestamps) and is dropped; holding more, it is
   * kept and reported, since moving rows holds the table's lock. @defaultValue 10000
   */
  readonly moveLimit?: number;
  /** How long a DDL statement waits for the table's lock before that step is skipped (and reported). @defaultValue 5000 */
  readonly lockTimeoutMs?: number;
}

/** A partition past retention that maintenance did not drop. */
export interface KeptPartition {
  readonly name: string;
  readonly pending: number;
  readonly dead: number;
  /** `undelivered`: more than `moveLimit` pending and dead messages; `failed`: the drop failed (see `error`; a lock timeout, say). */
  readonly reason: 'undelivered' | 'failed';
  readonly error?: string;
}

/** What one maintenance run did. */
export interface PartitionMaintenanceReport {
  /** False when another run held the lock: this one did nothing. */
  readonly ran: boolean;
  /** Partitions created (ahead of time, or for rows waiting in DEFAULT). */
  readonly created: readonly string[];
  /** Partitions dropped. */
  readonly dropped: readonly string[];
  /** Partitions dropped after moving their pending and dead messages into DEFAULT. */
  readonly moved: readonly { readonly name: string; readonly pending: number; readonly dead: number }[];
  /** Partitions past retention kept, and why. */
  readonly kept: readonly KeptPartition[];
  /** Partitions that could not be created (a table of that name exists, a range overlaps, the lock timed out). */
  readonly skipped: readonly { readonly name: string; readonly reason: string }[];
  /** Rows moved from DEFAULT into partitions created for their range. */
  readonly movedFromDefault: number;
  /** Sent rows in DEFAULT older than the retention cutoff, deleted. */
  readonly prunedFromDefault: number;
}

const DEFAULTS = { interval: 'day', premake: 7, retention: 7 } as const;

function count(value: unknown, what: string, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    throw new OutboxError(
      'INVALID_OPTION',
      `${what} must be an integer from 0 to ${max}, got ${String(value)}`,
    );
  }
  return value;
}

function checkInterval(value: unknown): PartitionInterval {
  if (value === 'hour' || value === 'day' || value === 'week' || value === 'month') return value;
  if (typeof value === 'object' && value !== null && 'minutes' in value) {
    const minutes = (value as { minutes: unknown }).minutes;
    if (typeof minutes === 'number' && Number.isInteger(minutes) && minutes > 0 && 1440 % minutes === 0) {
      return Object.freeze({ minutes });
    }
  }
  throw new OutboxError(
    'INVALID_OPTION',
    `partitioned.interval must be 'hour', 'day', 'week', 'month' or { minutes: n } with n dividing 1440, got ${JSON.stringify(value)}`,
  );
}

/** Fill in defaults and check {@link PartitionOptions}; throws `INVALID_OPTION`. */
export function resolvePartitionOptions(options: PartitionOptions | true = {}): ResolvedPartitionOptions {
  const o: PartitionOptions = options === true ? {} : options;
  if (typeof o !== 'object' || o === null) {
    throw new OutboxError('INVALID_OPTION', 'partitioned must be true or { interval, premake, retention }');
  }
  rejectUnknownOptions('partitioned', o, optionNames.partitioned);
  return Object.freeze({
    interval: checkInterval(o.interval ?? DEFAULTS.interval),
    premake: count(o.premake ?? DEFAULTS.premake, 'partitioned.premake', 1000),
    retention: count(o.retention ?? DEFAULTS.retention, 'partitioned.retention', 100_000),
  });
}

/** Check the overrides of one maintenance run. */
export function resolveMaintenanceOptions(o: PartitionMaintenanceOptions): {
  lockId: string;
  premake: number | undefined;
  retention: number | undefined;
  moveLimit: number;
  lockTimeoutMs: number;
} {
  if (typeof o !== 'object' || o === null) {
    throw new OutboxError('INVALID_OPTION', 'partition maintenance needs options with a lockId');
  }
  return {
    lockId: lockIdText(o.lockId),
    premake: o.premake === undefined ? undefined : count(o.premake, 'premake', 1000),
    retention: o.retention === undefined ? undefined : count(o.retention, 'retention', 100_000),
    moveLimit: count(o.moveLimit ?? 10_000, 'moveLimit', Number.MAX_SAFE_INTEGER),
    lockTimeoutMs: count(o.lockTimeoutMs ?? 5000, 'lockTimeoutMs', 3_600_000),
  };
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function lockIdText(value: unknown): string {
  let n: bigint | undefined;
  if (typeof value === 'bigint') n = value;
  else if (typeof value === 'number' && Number.isSafeInteger(value)) n = BigInt(value);
  else if (typeof value === 'string' && /^-?\d{1,19}$/.test(value)) n = BigInt(value);
  if (n === undefined || n < INT64_MIN || n > INT64_MAX) {
    throw new OutboxError(
      'INVALID_OPTION',
      `lockId must be a signed 64-bit integer (number, bigint or decimal string), got ${String(value)}`,
    );
  }
  return n.toString();
}

const MINUTE = 60_000;
const DAY = 1440 * MINUTE;

/** Range arithmetic for one interval, in UTC. */
export interface PartitionCalendar {
  /** Start of the range holding `at`. */
  floor(at: Date): Date;
  /** The start `n` ranges after (or before, for negative `n`) the range starting at `start`. */
  shift(start: Date, n: number): Date;
  /** The partition name suffix of the range starting at `start` (`20261128` for a day). */
  suffix(start: Date): string;
  /** The range start a suffix names, or null unless the suffix is exactly one this interval makes. */
  parse(suffix: string): Date | null;
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** The calendar of an interval. */
export function partitionCalendar(interval: PartitionInterval): PartitionCalendar {
  const minutes =
    interval === 'hour'
      ? 60
      : interval === 'day'
        ? 1440
        : typeof interval === 'object'
          ? interval.minutes
          : 0;
  // Digits of the suffix: yyyymm, yyyymmdd, yyyymmddhh, yyyymmddhhmi.
  const digits =
    interval === 'month'
      ? 6
      : interval === 'week' || interval === 'day'
        ? 8
        : interval === 'hour'
          ? 10
          : minutes % 60 === 0 && 1440 % minutes === 0 && minutes >= 60
            ? 10
            : 12;
  const floor = (at: Date): Date => {
    const t = at.getTime();
    if (interval === 'month') return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1));
    if (interval === 'week') {
      const day = Math.floor(t / DAY) * DAY;
      const monday = (new Date(day).getUTCDay() + 6) % 7;
      return new Date(day - monday * DAY);
    }
    const width = minutes * MINUTE;
    return new Date(Math.floor(t / width) * width);
  };
  const shift = (start: Date, n: number): Date => {
    if (interval === 'month') return new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + n, 1));
    if (interval === 'week') return new Date(start.getTime() + n * 7 * DAY);
    return new Date(start.getTime() + n * minutes * MINUTE);
  };
  const suffix = (start: Date): string => {
    const full = `${pad(start.getUTCFullYear(), 4)}${pad(start.getUTCMonth() + 1)}${pad(start.getUTCDate())}${pad(start.getUTCHours())}${pad(start.getUTCMinutes())}`;
    return full.slice(0, digits);
  };
  const parse = (text: string): Date | null => {
    if (text.length !== digits || !/^\d+$/.test(text)) return null;
    const part = (from: number, to: number) => (to <= text.length ? Number(text.slice(from, to)) : 0);
    const month = part(4, 6);
    const date = new Date(
      Date.UTC(part(0, 4), month - 1, digits >= 8 ? part(6, 8) : 1, part(8, 10), part(10, 12)),
    );
    // Round trip: rejects 20261131, a Tuesday for a weekly table, 1530 for hourly ones…
    return suffix(date) === text && floor(date).getTime() === date.getTime() ? date : null;
  };
  return { floor, shift, suffix, parse };
}

/** A job started on an interval: {@link startPartitionMaintenance}, {@link startPruning}. */
export interface IntervalJob {
  /** Stop the timer and wait for a run in progress to finish. */
  stop(): Promise<void>;
}

/** Options shared by the interval jobs. */
export interface IntervalJobOptions<Report> {
  /** Milliseconds between the end of one run and the start of the next. The first run starts at once. */
  readonly intervalMs: number;
  /** Called with each run's report. */
  readonly onRun?: (report: Report) => void;
  /** Called when a run fails; the job carries on at the next interval. @defaultValue ignore */
  readonly onError?: (error: unknown) => void;
}

/** Run `fn` now and then every `intervalMs` after each run ends, until stopped. */
export function startIntervalJob<Report>(
  fn: () => Promise<Report>,
  options: IntervalJobOptions<Report>,
  name: string,
): IntervalJob {
  const { intervalMs } = options;
  if (typeof intervalMs !== 'number' || !Number.isFinite(intervalMs) || intervalMs <= 0) {
    throw new OutboxError('INVALID_OPTION', `${name}: intervalMs must be a positive number`);
  }
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> = Promise.resolve();
  // A throwing listener must not stop the job.
  const safely = (f: () => void) => {
    try {
      f();
    } catch {}
  };
  const tick = () => {
    timer = undefined;
    running = (async () => {
      try {
        const report = await fn();
        if (options.onRun) safely(() => options.onRun!(report));
      } catch (error) {
        if (options.onError) safely(() => options.onError!(error));
      }
      if (!stopped) {
        timer = setTimeout(tick, intervalMs);
        timer.unref?.();
      }
    })();
  };
  tick();
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}

/** What {@link startPartitionMaintenance} needs of a store (a `SqlMessageStore`). */
export interface PartitionedStore {
  maintainPartitions(options: PartitionMaintenanceOptions): Promise<PartitionMaintenanceReport>;
}

/**
 * Run partition maintenance now and then every `intervalMs`, in this process. Start it in as
 * many processes as you like: the advisory lock `lockId` lets one run at a time, and the others
 * skip (`onRun` sees `ran: false`). A failed run is reported to `onError` and retried at the
 * next interval.
 *
 * @example
 * ```ts
 * const job = startPartitionMaintenance(store, {
 *   lockId: 4242,
 *   intervalMs: 15 * 60_000,
 *   onRun: (r) => r.kept.length && log.warn('kept partitions', r.kept),
 *   onError: (e) => log.error(e),
 * });
 * // …on shutdown
 * await job.stop();
 * ```
 */
export function startPartitionMaintenance(
  store: PartitionedStore,
  options: PartitionMaintenanceOptions & IntervalJobOptions<PartitionMaintenanceReport>,
): IntervalJob {
  resolveMaintenanceOptions(options);
  const { intervalMs: _i, onRun: _r, onError: _e, ...run } = options;
  return startIntervalJob(() => store.maintainPartitions(run), options, 'startPartitionMaintenance');
}

/** What {@link startPruning} needs of a store (a `SqlMessageStore`). */
export interface PrunableStore {
  pruneSent(options: { olderThanMs: number; batchSize?: number; maxBatches?: number }): Promise<number>;
  /** With it and `ordering: 'key'`, each run also prunes idle key counters. */
  pruneKeys?(options: { batchSize?: number; maxBatches?: number }): Promise<number>;
  readonly ordering?: 'none' | 'key';
}

/**
 * Retention for a plain table on an interval: every `intervalMs`, delete messages sent more
 * than `olderThanMs` ago, in statements of at most `batchSize` rows; on a table with
 * `ordering: 'key'`, then the counters of keys with nothing left pending or dead (`pruneKeys`).
 * Safe to run in several processes at once (each statement skips rows another one has locked).
 *
 * @example
 * ```ts
 * const job = startPruning(store, { olderThanMs: 7 * 86_400_000, intervalMs: 60_000 });
 * await job.stop();
 * ```
 */
export function startPruning(
  store: PrunableStore,
  options: {
    readonly olderThanMs: number;
    readonly batchSize?: number;
    readonly maxBatches?: number;
  } & IntervalJobOptions<number>,
): IntervalJob {
  const { olderThanMs, batchSize, maxBatches } = options;
  if (typeof olderThanMs !== 'number' || !(olderThanMs >= 0)) {
    throw new OutboxError(
      'INVALID_OPTION',
      `startPruning: olderThanMs must be a number ≥ 0, got ${String(olderThanMs)}`,
    );
  }
  const run = {
    olderThanMs,
    ...(batchSize !== undefined ? { batchSize } : {}),
    ...(maxBatches !== undefined ? { maxBatches } : {}),
  };
  const pruneKeys = store.ordering === 'key' ? store.pruneKeys?.bind(store) : undefined;
  return startIntervalJob(
    async () => {
      const sent = await store.pruneSent(run);
      if (pruneKeys) await pruneKeys(run);
      return sent;
    },
    options,
    'startPruning',
  );
}
