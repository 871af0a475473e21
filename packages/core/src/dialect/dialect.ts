import type { Executor, IsolationLevel, TransactionalExecutor } from '../executor.js';
import type {
  EncodedMessage,
  MessageStatus,
  OutboxMessage,
  StoredMessage,
  TimestampRange,
} from '../message.js';
import type { PartitionSupport } from './postgres-partitions.js';

/** One SQL statement with its bound parameters. */
export interface Statement {
  readonly sql: string;
  readonly params: readonly unknown[];
  /** A stable name for a statement run again and again (see `QueryOptions.name`). */
  readonly name?: string;
}

/** What a database can do; the relay and store branch on these, never on the database's name. */
export interface DialectCapabilities {
  /** `FOR UPDATE SKIP LOCKED` in the claim query. */
  readonly skipLocked: boolean;
  /** `LISTEN` / `NOTIFY` wake-ups. */
  readonly listenNotify: boolean;
  /** Declarative range partitioning of the outbox table. */
  readonly partitioning: boolean;
  /** `INSERT … RETURNING`. */
  readonly returning: boolean;
}

/** How the relay orders deliveries: `none` (any order, full parallelism) or `key` (per key, in commit order). */
export type Ordering = 'none' | 'key';

/**
 * Where an ordered claim's walk over the keys starts, and what the claim's transaction already
 * holds (a second round of one claim must not return those again).
 */
export interface ClaimWalk {
  /** The key after which the walk starts; `null` for the first key. */
  readonly after: string | null;
  /** Ids already claimed in this transaction. */
  readonly exclude: readonly string[];
}

/**
 * How many messages of one key an ordered claim of `limit` counts on when it decides how many
 * keys to take (2 for batches up to 256, 4 for 500, at most 32). Taking each key a few messages
 * deep instead of one leaves keys for other relays (with 1,000 keys and batches of 500, four
 * relays taking one message a key would want 2,000 keys at once) and halves the walk; deeper
 * runs cost more to lock than the walk saves (measured: 4 relays over 1,000 keys drain at
 * 22,000 msg/s taking 1 a key, 47,000–49,000 taking 4, 43,000–47,000 taking 8, 29,000–37,000
 * taking 32). The relay sends a key's run in waves (one message of each key per send call), so
 * this is also about the most send calls a batch of keyed messages needs.
 */
export function runDepth(limit: number): number {
  return Math.min(32, Math.max(2, Math.ceil(limit / 128)));
}

/** What an ordered claim's walk found (see {@link Dialect.claimedWalk}). */
export interface ClaimedWalk {
  readonly rows: readonly Record<string, unknown>[];
  readonly next: string | null;
  readonly more: boolean;
}

/** How many keys (PostgreSQL) or index entries (MySQL) an ordered claim of `limit` may visit. */
export function walkWidth(limit: number): number {
  return limit * 4 + 64;
}

/**
 * The statements an ordered claim runs after `claim()` on a database whose claim cannot do it
 * all in one statement (MySQL, MariaDB). Both run on the claim's transaction.
 */
export interface OrderedClaimSteps {
  /**
   * Lock up to `limit` candidate heads by primary key (`FOR UPDATE SKIP LOCKED`, still pending
   * and due) and return them with `claim`'s columns and `seq`.
   */
  lockHeads(ids: readonly string[], limit: number): Statement;
  /**
   * Lock the chosen run messages (`FOR UPDATE SKIP LOCKED`, still pending) and return them with
   * `claim`'s columns and `seq`. A key's run is kept up to its first message not returned.
   */
  lock(ids: readonly string[]): Statement;
}

/** The decided outcome of one delivery attempt, as the store records it. */
export type Outcome =
  | { readonly id: string; readonly status: 'sent' }
  | { readonly id: string; readonly status: 'retry'; readonly error: string; readonly delayMs: number }
  | { readonly id: string; readonly status: 'dead'; readonly error: string };

/** One numbered migration, rendered for a schema and table. */
export interface Migration {
  /** 1, 2, 3… applied in order. */
  readonly version: number;
  /** A short snake_case name (`create_outbox`). */
  readonly name: string;
  /** Statements to apply, in order. */
  readonly up: readonly string[];
  /** Statements that undo `up`, in order. */
  readonly down: readonly string[];
}

/** Filter for dead-letter listing, requeue and purge. */
export interface MessageFilter {
  /** Only these ids. */
  readonly ids?: readonly string[];
  /** Only this topic. */
  readonly topic?: string;
  /** Only messages created before this instant. */
  readonly createdBefore?: Date;
  /** Only ids up to this one (inclusive): a bulk change stops at what was counted before it. */
  readonly maxId?: string;
}

/** Whether the outbox table exists, and at which migration, as `tableStatus()` reads it. */
export interface TableStatus {
  /** The outbox table exists. */
  readonly exists: boolean;
  /** It is a partitioned table (PostgreSQL `relkind = 'p'`, MySQL with partitions). */
  readonly partitioned: boolean;
  /** Newest migration recorded in `<table>_migrations`; null when that table does not exist. */
  readonly version: number | null;
  /** Newest migration this version of troutbox knows. */
  readonly latest: number;
}

/** Counts of the outbox table, as `stats()` returns them. */
export interface OutboxStats {
  readonly pending: number;
  /** Pending and due now (not scheduled or backing off). */
  readonly due: number;
  readonly dead: number;
  readonly sent: number;
  /** `createdAt` of the oldest pending message, or null. */
  readonly oldestPendingAt: Date | null;
}

/**
 * Every SQL string troutbox runs, for one database. Identifiers are validated and quoted once,
 * when the dialect is created; every value is a bound parameter.
 */
export interface Dialect {
  /** `postgres`, `mysql`: for telemetry's `db.system` and for messages. */
  readonly name: string;
  readonly capabilities: DialectCapabilities;
  /** Isolation level for the relay's claim transactions, where the database's default is wrong for them. */
  readonly relayIsolationLevel?: IsolationLevel;
  /** The quoted, qualified table name, for diagnostics. */
  readonly tableName: string;
  /** Largest number of messages one insert statement may carry (parameter limits). */
  readonly maxRowsPerInsert: number;
  /**
   * Largest total payload, in bytes, one insert statement may carry (a driver or server packet
   * limit); a single larger message still goes alone. Unbounded when absent.
   */
  readonly maxBytesPerInsert?: number;
  /**
   * The instants the table's timestamp columns hold, as far as a `Date` reaches: a message's
   * `availableAt` outside it is refused before any SQL (`INVALID_MESSAGE`), since the database
   * would fail the statement.
   *
   * @example
   * ```ts
   * mysql().timestampRange; // { min: 1000-01-01T00:00:00.000Z, max: 9999-12-31T23:59:59.999Z }
   * ```
   */
  readonly timestampRange: TimestampRange;

  /**
   * `none`, or `key`: producers give each keyed message its key's next sequence number (in
   * commit order) and claims take only each key's first pending messages. Producers and relays
   * of one table must agree (see the README).
   */
  readonly ordering: Ordering;
  /**
   * Wake-up channel of this table: the `NOTIFY` channel on PostgreSQL, and the name under which
   * relays in this process are woken after a local insert.
   */
  readonly channel: string;

  /**
   * The statements that write `messages`, in order, to run in one transaction: one, or two on
   * MySQL with ordering (the key counters, then the messages). On PostgreSQL the statement may
   * also carry a rate-limited `pg_notify`.
   */
  insert(messages: readonly EncodedMessage[]): readonly Statement[];
  /**
   * Lock and return up to `limit` due messages. With ordering, only each key's first pending
   * messages, with a `seq` column, walking the keys from `walk.after`; the last row (`id` NULL)
   * then reports where the walk ended (`walk_end`) and whether it stopped before running out of
   * keys (`walk_more`).
   */
  claim(limit: number, walk?: ClaimWalk): Statement;
  /**
   * A statement to run in the claim's transaction before `claim` (planner settings local to
   * that transaction), where the claim needs one.
   */
  readonly claimSetup?: Statement;
  /**
   * With ordering: split `claim`'s result into its message rows (MySQL: candidates, still to be
   * locked through `orderedClaim`), the key the next walk starts after (`null`: the first key),
   * and whether this walk stopped before it ran out of keys (another round may find more).
   */
  claimedWalk?(rows: readonly Record<string, unknown>[], limit: number, walk: ClaimWalk): ClaimedWalk;
  /** Present where an ordered claim needs more statements (MySQL). */
  readonly orderedClaim?: OrderedClaimSteps;
  /**
   * Record outcomes. `created`, when given, bounds the `createdAt` of every message in
   * `outcomes` (the store knows it from the claim): on a partitioned table it lets PostgreSQL
   * skip the other partitions and walk the primary-key index even before the first ANALYZE.
   */
  complete(outcomes: readonly Outcome[], created?: { readonly from: Date; readonly to: Date }): Statement;
  /**
   * Lock the messages among `ids` that are still pending and not locked by anyone else
   * (`FOR UPDATE SKIP LOCKED`), returning their `id` (as text) and `attempts`. Used to record a
   * fallback outcome for a batch whose own outcomes could not be recorded, in a new transaction,
   * without touching a message another relay has claimed or recorded since.
   */
  lockPending(ids: readonly string[]): Statement;
  listMessages(status: MessageStatus, filter: MessageFilter & { limit: number; afterId?: string }): Statement;
  getMessage(id: string): Statement;
  requeue(filter: MessageFilter & { limit: number }): Statement;
  purge(status: 'sent' | 'dead', filter: MessageFilter & { limit: number }): Statement;
  stats(): Statement;
  /** Count messages in one state (columns `n`, and `max_id` as text). */
  count(status: MessageStatus, filter: MessageFilter): Statement;
  /** Messages sent within each window (ms) before the database's now (columns `now`, `w0`, `w1`…). */
  sentCounts(windowsMs: readonly number[]): Statement;
  /** Delete at most `limit` sent messages whose `sent_at` is before `sentBefore`. */
  pruneSent(filter: { sentBefore: Date; limit: number }): Statement;
  /**
   * Up to `limit` rows of `<table>_keys` after the key `after` (null: from the first), in key
   * order, as columns `key`, `seq` and `idle` (true when the key has no pending and no dead
   * message with a seq), read without locking.
   */
  keyCounters(after: string | null, limit: number): Statement;
  /**
   * Delete these key counters, each only if its seq is still the one given: a producer that
   * bumped it since (or holds it, until its commit) keeps it.
   */
  deleteKeyCounters(counters: readonly { key: string; seq: string }[]): Statement;
  /** The database's clock (column `now`). */
  now(): Statement;
  /** Whether the table exists, is partitioned, and its migration version. */
  tableStatus(db: Executor): Promise<TableStatus>;
  /** Partitioned tables (PostgreSQL); undefined where the database has none. */
  readonly partitions?: PartitionSupport;

  /** Turn a row of `claim` into a message, whatever the driver's types. */
  toMessage(row: Record<string, unknown>): OutboxMessage;
  /** Turn a row of `listMessages`/`getMessage` into a stored message. */
  toStoredMessage(row: Record<string, unknown>): StoredMessage;
  toStats(row: Record<string, unknown>): OutboxStats;

  /**
   * The numbered migrations, rendered for this dialect's schema and table, for your own
   * migration tool: run each `up` statement in order. The schema must exist already (`migrate()`
   * creates it, and records applied versions in `<table>_migrations`; hand-run SQL does neither).
   */
  migrations(): readonly Migration[];
  /** Apply pending migrations; safe when several processes call it at once. */
  migrate(db: TransactionalExecutor, options?: { to?: number }): Promise<MigrateResult>;
  /** Undo migrations down to (not including) `to`. */
  rollback(db: TransactionalExecutor, options: { to: number }): Promise<MigrateResult>;
}

export interface MigrateResult {
  /** Versions applied (or undone) by this call, in order. */
  readonly applied: readonly number[];
  /** Version of the schema after the call. */
  readonly version: number;
}

export type { Executor };
