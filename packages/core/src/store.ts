import type {
  Dialect,
  MessageFilter,
  MigrateResult,
  OrderedClaimSteps,
  Ordering,
  OutboxStats,
  Outcome,
  TableStatus,
} from './dialect/dialect.js';
import { toBool, toDate, toInt } from './dialect/rows.js';
import { OutboxError } from './errors.js';
import type { Executor, NotificationSubscription, TransactionalExecutor } from './executor.js';
import {
  defaultMessageLimits,
  type EncodedMessage,
  encodeMessages,
  type MessageLimits,
  type MessageStatus,
  type NewMessage,
  type OutboxMessage,
  type StoredMessage,
} from './message.js';
import { optionNames, rejectUnknownOptions } from './options.js';
import { writeMessages } from './outbox.js';
import type {
  PartitionListing,
  PartitionMaintenanceOptions,
  PartitionMaintenanceReport,
} from './partitions.js';
import { storableDelay } from './retry.js';
import { withTraceContext } from './telemetry.js';

/**
 * Which dead letters to requeue or purge: ids, or everything (optionally by topic and age, and
 * up to `maxId`, so that a bulk change stops at what was counted before it — see `count()`).
 */
export type DeadLetterSelector =
  | { readonly ids: readonly string[] }
  | { readonly all: true; readonly topic?: string; readonly createdBefore?: Date; readonly maxId?: string };

/** What `count()` returns. */
export interface MessageCount {
  readonly count: number;
  /** The largest matching id (null when none match): pass it as `maxId` to a bulk requeue or purge. */
  readonly maxId: string | null;
}

/** Options of `pruneSent()`. Give `olderThan` or `olderThanMs`. */
export interface PruneOptions {
  /** Delete messages sent before this instant. */
  readonly olderThan?: Date;
  /** Delete messages sent more than this many ms ago, by the database's clock. */
  readonly olderThanMs?: number;
  /** Rows per DELETE statement. @defaultValue 5000 */
  readonly batchSize?: number;
  /** Stop after this many statements (the next run carries on). @defaultValue no limit */
  readonly maxBatches?: number;
  /** Called after each statement with the running total. */
  readonly onProgress?: (deleted: number) => void;
}

/** Options of `pruneKeys()`. */
export interface PruneKeysOptions {
  /** Key counters read (and at most deleted) per statement. @defaultValue 5000 */
  readonly batchSize?: number;
  /** Stop after this many batches (the next run starts again from the first key). @defaultValue no limit */
  readonly maxBatches?: number;
  /** Called after each delete with the running total. */
  readonly onProgress?: (deleted: number) => void;
}

/**
 * The repository contract of the outbox. Every method that takes `db` runs on that executor —
 * a transaction of the caller's, or one the relay opened — so the store itself is
 * transaction-agnostic. The admin methods (`deadLetters`, `requeueDead`, `purge`, `stats`)
 * run on the store's own executor.
 *
 * `SqlMessageStore` implements it for every SQL dialect; implement it yourself for other storage
 * and prove it with `@troutbox/core/testing`.
 */
export interface MessageStore {
  /** The store's own executor, for the relay's transactions and the admin methods. */
  readonly db: TransactionalExecutor;
  /** `postgres`, `mysql`… */
  readonly system: string;
  /**
   * `key` when claims keep per-key order: each claimed key's messages come back in delivery
   * order, and the relay then sends them in waves (never two of one key in one send call).
   * @defaultValue `'none'`
   */
  readonly ordering?: Ordering;
  /** This table's wake-up channel: relays in this process are woken by writes to it. */
  readonly channel?: string;
  /**
   * Listen for the producers' notifications (PostgreSQL `LISTEN`) on a connection of its own.
   * Resolves to null where the database or executor cannot; see {@link TransactionalExecutor.listen}.
   */
  listen?(onNotify: () => void, onLost: (error: Error) => void): Promise<NotificationSubscription | null>;
  /** Write messages on `db` (the caller's transaction). Validates everything first; one statement per up to `maxRowsPerInsert` messages. */
  add(db: Executor, messages: NewMessage | readonly NewMessage[]): Promise<number>;
  /** Open a transaction on `db` for a claim → send → complete cycle, at the isolation level the database needs for it. */
  transaction<T>(fn: (tx: Executor) => Promise<T>): Promise<T>;
  /**
   * Lock and return up to `limit` due messages on `tx`; locked rows are skipped by other
   * claimers until `tx` ends. With ordering, each key's messages are in delivery order.
   */
  claim(tx: Executor, limit: number): Promise<OutboxMessage[]>;
  /** Record the outcomes of a claimed batch on `tx`, in one statement. */
  complete(tx: Executor, outcomes: readonly Outcome[]): Promise<void>;
  /**
   * Lock again, on a new transaction `tx`, messages of a batch whose transaction rolled back
   * because its outcomes could not be recorded: only those still pending with the `attempts`
   * they had when claimed, and not locked by another claim (skipped, not waited for). Returns
   * their ids. The relay then records a fallback outcome for them (see the README: "A batch
   * whose outcomes cannot be recorded"), so a message another relay has claimed or recorded
   * since is never overwritten. Optional: without it such a batch is left to be claimed again,
   * and the relay backs off.
   */
  reclaim?(tx: Executor, messages: readonly Pick<OutboxMessage, 'id' | 'attempts'>[]): Promise<string[]>;
  /** Mark claimed messages sent. */
  markSent(tx: Executor, ids: readonly string[]): Promise<void>;
  /** Record failures: `retry` moves `availableAt` forward, `dead` moves to the dead letters. */
  markFailed(tx: Executor, failures: readonly Exclude<Outcome, { status: 'sent' }>[]): Promise<void>;
  /** List messages in one state, oldest first, a page at a time (`afterId`). */
  list(options: {
    status: MessageStatus;
    topic?: string;
    limit?: number;
    afterId?: string;
  }): Promise<StoredMessage[]>;
  /** List dead letters, oldest first. */
  deadLetters(options?: { topic?: string; limit?: number; afterId?: string }): Promise<StoredMessage[]>;
  /** One message by id, in any state, or null. */
  get(id: string): Promise<StoredMessage | null>;
  /** Move dead letters back to pending with their attempts reset. Returns how many moved. */
  requeueDead(selector: DeadLetterSelector): Promise<number>;
  /** Delete sent or dead messages, in bounded batches. Returns how many were deleted. */
  purge(
    status: 'sent' | 'dead',
    selector: DeadLetterSelector | { olderThan: Date; topic?: string },
  ): Promise<number>;
  stats(): Promise<OutboxStats>;
  /** Create or upgrade the outbox table. */
  migrate(options?: { to?: number }): Promise<MigrateResult>;
}

/** Options of {@link SqlMessageStore}. */
export interface SqlMessageStoreOptions {
  dialect: Dialect;
  /** A pooled executor for the relay and admin methods (`pgPool(pool)`, an ORM adapter…). */
  db: TransactionalExecutor;
  /** Limits checked before anything is written. */
  limits?: Partial<MessageLimits>;
  /** Rows a bulk requeue or purge touches per statement, so no statement locks the table for long. @defaultValue 5000 */
  adminBatchSize?: number;
  /**
   * Accept `add` through a handle that is not in a transaction (the store's own pool): each
   * such write commits on its own. Off by default: refused with `NOT_IN_TRANSACTION`.
   * @defaultValue false
   */
  autocommit?: boolean;
}

function positiveInt(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0)
    throw new OutboxError('INVALID_OPTION', `${what} must be a positive integer, got ${String(value)}`);
  return value;
}

/** Message ids are 64-bit integers, passed around as decimal strings. */
function checkId(id: unknown): string {
  const text = typeof id === 'bigint' || typeof id === 'number' ? String(id) : id;
  if (typeof text !== 'string' || !/^\d{1,19}$/.test(text)) {
    throw new OutboxError('INVALID_OPTION', `not a message id: ${JSON.stringify(String(id))}`);
  }
  return text;
}

function wrapStoreError(operation: string, cause: unknown): never {
  if (cause instanceof OutboxError) throw cause;
  throw new OutboxError(
    'STORE_FAILED',
    `outbox ${operation} failed: ${(cause as Error)?.message ?? String(cause)}`,
    {
      operation,
      cause,
    },
  );
}

export function resolveLimits(limits: Partial<MessageLimits> = {}): Readonly<MessageLimits> {
  rejectUnknownOptions('limits', limits, optionNames.limits);
  const l = { ...defaultMessageLimits, ...limits };
  for (const [k, v] of Object.entries(l)) {
    if (!Number.isInteger(v) || v <= 0)
      throw new OutboxError('INVALID_OPTION', `limits.${k} must be a positive integer, got ${String(v)}`);
  }
  return Object.freeze(l);
}

/** `batchSize` (default 5,000) and `maxBatches` (default no limit) of the pruning methods, checked. */
function batching(options: { batchSize?: number; maxBatches?: number }): {
  limit: number;
  maxBatches: number;
} {
  return {
    limit: positiveInt(options.batchSize ?? 5000, 'batchSize'),
    maxBatches:
      options.maxBatches === undefined
        ? Number.POSITIVE_INFINITY
        : positiveInt(options.maxBatches, 'maxBatches'),
  };
}

/** Statements one ordered claim may run to fill its batch (see `SqlMessageStore.claim`). */
const ORDERED_CLAIM_ROUNDS = 4;

/**
 * Rows of an ordered claim that mark runs (`run_head`, `run_n` = 1, 2… after their head): each
 * run up to its first missing place (a row that could not be locked). Rows without the marks
 * pass unchanged.
 */
function unbrokenRuns(rows: Record<string, unknown>[]): Record<string, unknown>[] {
  if (!rows.some((r) => r.run_head != null)) return rows;
  const byHead = new Map<string, Record<string, unknown>[]>();
  for (const r of rows) {
    if (r.run_head == null) continue;
    const head = String(r.run_head);
    const list = byHead.get(head);
    if (list) list.push(r);
    else byHead.set(head, [r]);
  }
  const drop = new Set<Record<string, unknown>>();
  for (const list of byHead.values()) {
    list.sort((a, b) => Number(a.run_n) - Number(b.run_n));
    let expected = 1;
    for (const r of list) {
      if (expected > 0 && Number(r.run_n) === expected) expected++;
      else {
        // A gap: this row and every later one of the run stay behind (unsent, unlocked at commit).
        expected = 0;
        drop.add(r);
      }
    }
  }
  return drop.size === 0 ? rows : rows.filter((r) => !drop.has(r));
}

/**
 * Each key's rows in ascending seq, in the places its rows had: the relay sends the n-th message
 * of each key in the n-th wave, so only the order within a key matters.
 */
function inKeyOrder(rows: Record<string, unknown>[]): Record<string, unknown>[] {
  const byKey = new Map<string, Record<string, unknown>[]>();
  for (const r of rows) {
    if (r.key == null || r.seq == null) continue;
    const key = String(r.key);
    let list = byKey.get(key);
    if (!list) {
      list = [];
      byKey.set(key, list);
    }
    list.push(r);
  }
  let shuffled = false;
  for (const list of byKey.values()) {
    if (list.length < 2) continue;
    const sorted = [...list].sort((a, b) => compareSeq(String(a.seq), String(b.seq)));
    if (sorted.some((r, i) => r !== list[i])) shuffled = true;
    list.splice(0, list.length, ...sorted);
  }
  if (!shuffled) return rows;
  const next = new Map<string, number>();
  return rows.map((r) => {
    if (r.key == null || r.seq == null) return r;
    const key = String(r.key);
    const i = next.get(key) ?? 0;
    next.set(key, i + 1);
    return byKey.get(key)![i]!;
  });
}

/** Compare decimal texts (seqs, ids) numerically (they may exceed 2^53). */
function compareSeq(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

/**
 * The SQL implementation of {@link MessageStore}, for any {@link Dialect}.
 *
 * @example
 * ```ts
 * const store = new SqlMessageStore({ dialect: postgres(), db: pgPool(pool) });
 * await store.migrate();
 * await pool.query('BEGIN'); // …or any transaction you hold
 * ```
 */
export class SqlMessageStore implements MessageStore {
  readonly dialect: Dialect;
  readonly db: TransactionalExecutor;
  readonly limits: Readonly<MessageLimits>;
  readonly #adminBatch: number;
  readonly #autocommit: boolean;
  // createdAt of the messages claimed on each open transaction, so that their completion can
  // name the created_at range (see Dialect.complete). Keyed weakly by the transaction's executor.
  readonly #claimed = new WeakMap<Executor, Map<string, number>>();
  // Where the next ordered claim's walk over the keys starts (the key the last one ended at).
  #walkAfter: string | null = null;

  constructor(options: SqlMessageStoreOptions) {
    rejectUnknownOptions('SqlMessageStore', options, optionNames.SqlMessageStore);
    if (!options || typeof options.dialect?.insert !== 'function') {
      throw new OutboxError('INVALID_OPTION', 'SqlMessageStore needs a dialect (postgres(), mysql())');
    }
    if (typeof options.db?.transaction !== 'function') {
      throw new OutboxError(
        'INVALID_OPTION',
        'SqlMessageStore needs a transactional executor as db (pgPool(pool), …)',
      );
    }
    this.dialect = options.dialect;
    this.db = options.db;
    this.limits = resolveLimits(options.limits);
    const batch = options.adminBatchSize ?? 5000;
    if (!Number.isInteger(batch) || batch <= 0)
      throw new OutboxError('INVALID_OPTION', 'adminBatchSize must be a positive integer');
    this.#adminBatch = batch;
    if (options.autocommit !== undefined && typeof options.autocommit !== 'boolean')
      throw new OutboxError(
        'INVALID_OPTION',
        `autocommit must be a boolean, got ${String(options.autocommit)}`,
      );
    this.#autocommit = options.autocommit === true;
  }

  get system(): string {
    return this.dialect.name;
  }

  get ordering(): Ordering {
    return this.dialect.ordering;
  }

  get channel(): string {
    return this.dialect.channel;
  }

  async listen(
    onNotify: () => void,
    onLost: (error: Error) => void,
  ): Promise<NotificationSubscription | null> {
    if (!this.dialect.capabilities.listenNotify || typeof this.db.listen !== 'function') return null;
    return this.db.listen(this.dialect.channel, onNotify, onLost);
  }

  /** Validate and encode without writing (what `add` does first). */
  encode(messages: NewMessage | readonly NewMessage[]): EncodedMessage[] {
    return encodeMessages(withTraceContext(messages), this.limits, this.dialect.timestampRange);
  }

  async add(db: Executor, messages: NewMessage | readonly NewMessage[]): Promise<number> {
    const encoded = this.encode(messages);
    await this.insertEncoded(db, encoded);
    return encoded.length;
  }

  /** Write already-encoded messages (ORM adapters that validate early use this). */
  insertEncoded(db: Executor, encoded: readonly EncodedMessage[]): Promise<void> {
    return writeMessages(this.dialect, db, encoded, { caller: 'store.add', autocommit: this.#autocommit });
  }

  transaction<T>(fn: (tx: Executor) => Promise<T>): Promise<T> {
    const level = this.dialect.relayIsolationLevel;
    return level ? this.db.transaction(fn, { isolationLevel: level }) : this.db.transaction(fn);
  }

  async claim(tx: Executor, limit: number): Promise<OutboxMessage[]> {
    const setup = this.dialect.claimSetup;
    if (setup) await tx.query(setup.sql, setup.params);
    let rows: Record<string, unknown>[];
    if (this.dialect.ordering === 'key') rows = await this.#orderedClaim(tx, limit);
    else {
      const { sql, params, name } = this.dialect.claim(limit);
      ({ rows } = await tx.query<Record<string, unknown>>(sql, params, name ? { name } : undefined));
    }
    const messages = rows.map(this.dialect.toMessage);
    if (typeof tx === 'object' && tx !== null && messages.length > 0) {
      let claimed = this.#claimed.get(tx);
      // Bounded, for an executor that claims again and again without completing (rolled back
      // claims on one long-lived connection): the range is only an optimisation.
      if (!claimed || claimed.size > 100_000) {
        claimed = new Map();
        this.#claimed.set(tx, claimed);
      }
      for (const m of messages) claimed.set(m.id, m.createdAt.getTime());
    }
    return messages;
  }

  /**
   * An ordered claim: walks the keys from where this store's last walk ended. When a walk stops
   * early (it visited its share of keys, many of them held by other relays) with the batch not
   * full, it goes on from there, up to {@link ORDERED_CLAIM_ROUNDS} statements in all, so that a
   * relay among several still fills its batch instead of going idle.
   */
  async #orderedClaim(tx: Executor, limit: number): Promise<Record<string, unknown>[]> {
    const taken: Record<string, unknown>[] = [];
    const walkOf = this.dialect.claimedWalk;
    const steps = this.dialect.orderedClaim;
    for (let round = 0; round < ORDERED_CLAIM_ROUNDS && taken.length < limit; round++) {
      const walk = { after: this.#walkAfter, exclude: taken.map((r) => String(r.id)) };
      const { sql, params, name } = this.dialect.claim(limit - taken.length, walk);
      const { rows } = await tx.query<Record<string, unknown>>(sql, params, name ? { name } : undefined);
      const walked = walkOf ? walkOf(rows, limit - taken.length, walk) : { rows, next: null, more: false };
      this.#walkAfter = walked.next;
      const mine = new Set(walk.exclude);
      const fresh = walked.rows.filter((r) => !mine.has(String(r.id)));
      taken.push(
        ...(steps ? await this.#lockWalked(tx, steps, fresh, limit - taken.length) : unbrokenRuns(fresh)),
      );
      if (!walked.more) break;
    }
    // In id order, as an unordered claim returns them, then each key's messages in seq order.
    taken.sort((a, b) => compareSeq(String(a.id), String(b.id)));
    return inKeyOrder(taken);
  }

  /**
   * The locking half of an ordered claim where the walk is a plain read (MySQL): lock the due
   * heads and messages without a key, then each locked head's run — a fair share of what room
   * is left, in place order, up to the key's first message that is not due — and keep each run
   * up to its first message that could not be locked.
   */
  async #lockWalked(
    tx: Executor,
    steps: OrderedClaimSteps,
    walked: readonly Record<string, unknown>[],
    limit: number,
  ): Promise<Record<string, unknown>[]> {
    const candidates = walked.filter((r) => Number(r.rn) === 1 && toBool(r.due));
    if (candidates.length === 0) return [];
    const lock = steps.lockHeads(
      candidates.map((r) => String(r.id)),
      limit,
    );
    const { rows: locked } = await tx.query<Record<string, unknown>>(lock.sql, lock.params);
    // Every locked keyed head brings its run (a head written without ordering, seq NULL, too:
    // the walk read its key's entries in delivery order, whatever their seq).
    const held = new Set(locked.filter((r) => r.key != null).map((r) => String(r.key)));
    const budget = limit - locked.length;
    if (budget <= 0 || held.size === 0) return locked;
    // Each head's run from the walk: its key's next entries (rn 2, 3…), while due.
    const share = Math.ceil(budget / held.size);
    const runs = new Map<string, Record<string, unknown>[]>();
    const inPlaceOrder = walked.filter((r) => r.key != null).sort((a, b) => Number(a.rn) - Number(b.rn));
    for (const r of inPlaceOrder) {
      if (!held.has(String(r.key)) || Number(r.rn) < 2) continue;
      const key = String(r.key);
      const run = runs.get(key) ?? [];
      if (run.length === 0) runs.set(key, run);
      if (run.length < share && run.length === Number(r.rn) - 2 && toBool(r.due)) run.push(r);
    }
    const chosen = [...runs.values()]
      .flat()
      .sort((a, b) => Number(a.rn) - Number(b.rn))
      .slice(0, budget);
    if (chosen.length === 0) return locked;
    const lockRuns = steps.lock(chosen.map((c) => String(c.id)));
    const { rows: lockedRuns } = await tx.query<Record<string, unknown>>(lockRuns.sql, lockRuns.params);
    // Each run up to its first message that could not be locked.
    const byId = new Map(lockedRuns.map((r) => [String(r.id), r]));
    const broken = new Set<string>();
    const kept: Record<string, unknown>[] = [];
    for (const c of chosen) {
      const key = String(c.key);
      if (broken.has(key)) continue;
      const row = byId.get(String(c.id));
      if (row) kept.push(row);
      else broken.add(key);
    }
    return locked.concat(kept);
  }

  /**
   * Record outcomes in one statement. A retry's `delayMs` is brought within what the database can
   * store ({@link storableDelay}): a delay past the column's range would fail the statement, and
   * with it the whole batch's outcomes.
   */
  async complete(tx: Executor, outcomes: readonly Outcome[]): Promise<void> {
    if (outcomes.length === 0) return;
    const storable = outcomes.map((o) =>
      o.status === 'retry' && o.delayMs !== storableDelay(o.delayMs)
        ? { ...o, delayMs: storableDelay(o.delayMs) }
        : o,
    );
    const { sql, params } = this.dialect.complete(storable, this.#createdRange(tx, storable));
    await tx.query(sql, params);
  }

  /** The createdAt range of `outcomes` when every one was claimed on `tx`; forgets them. */
  #createdRange(tx: Executor, outcomes: readonly Outcome[]): { from: Date; to: Date } | undefined {
    const claimed = typeof tx === 'object' && tx !== null ? this.#claimed.get(tx) : undefined;
    if (!claimed) return undefined;
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    let complete = true;
    for (const o of outcomes) {
      const at = claimed.get(o.id);
      if (at === undefined) complete = false;
      else {
        if (at < min) min = at;
        if (at > max) max = at;
      }
      claimed.delete(o.id);
    }
    if (claimed.size === 0) this.#claimed.delete(tx);
    // Drivers read timestamps to the millisecond (truncated or rounded): widen by one each way.
    return complete ? { from: new Date(min - 1), to: new Date(max + 1) } : undefined;
  }

  async reclaim(
    tx: Executor,
    messages: readonly Pick<OutboxMessage, 'id' | 'attempts'>[],
  ): Promise<string[]> {
    if (messages.length === 0) return [];
    const claimedWith = new Map(messages.map((m) => [checkId(m.id), m.attempts]));
    const { sql, params } = this.dialect.lockPending([...claimedWith.keys()]);
    const { rows } = await tx.query<{ id: unknown; attempts: unknown }>(sql, params);
    // A different attempts count: another relay recorded an attempt since (locked rows that
    // are not ours stay locked only until this short transaction ends).
    return rows.filter((r) => claimedWith.get(String(r.id)) === toInt(r.attempts)).map((r) => String(r.id));
  }

  markSent(tx: Executor, ids: readonly string[]): Promise<void> {
    return this.complete(
      tx,
      ids.map((id) => ({ id, status: 'sent' as const })),
    );
  }

  markFailed(tx: Executor, failures: readonly Exclude<Outcome, { status: 'sent' }>[]): Promise<void> {
    return this.complete(tx, failures);
  }

  async list(options: {
    status: MessageStatus;
    topic?: string;
    limit?: number;
    afterId?: string;
  }): Promise<StoredMessage[]> {
    if (!['pending', 'sent', 'dead'].includes(options?.status)) {
      throw new OutboxError(
        'INVALID_OPTION',
        `status must be pending, sent or dead, got ${String(options?.status)}`,
      );
    }
    const limit = options.limit ?? 100;
    if (!Number.isInteger(limit) || limit <= 0)
      throw new OutboxError('INVALID_OPTION', 'limit must be a positive integer');
    const filter: MessageFilter & { limit: number; afterId?: string } = { limit };
    if (options.topic !== undefined) Object.assign(filter, { topic: options.topic });
    if (options.afterId !== undefined) filter.afterId = checkId(options.afterId);
    const { sql, params } = this.dialect.listMessages(options.status, filter);
    try {
      const { rows } = await this.db.query<Record<string, unknown>>(sql, params);
      return rows.map(this.dialect.toStoredMessage);
    } catch (e) {
      wrapStoreError('list', e);
    }
  }

  deadLetters(options: { topic?: string; limit?: number; afterId?: string } = {}): Promise<StoredMessage[]> {
    return this.list({ ...options, status: 'dead' });
  }

  async get(id: string): Promise<StoredMessage | null> {
    const { sql, params } = this.dialect.getMessage(checkId(id));
    try {
      const { rows } = await this.db.query<Record<string, unknown>>(sql, params);
      return rows[0] ? this.dialect.toStoredMessage(rows[0]) : null;
    } catch (e) {
      wrapStoreError('get', e);
    }
  }

  #filter(selector: DeadLetterSelector | { olderThan: Date; topic?: string }): MessageFilter {
    if (typeof selector !== 'object' || selector === null) {
      throw new OutboxError('INVALID_OPTION', 'pass { ids }, { all: true } or { olderThan }');
    }
    const date = (value: unknown, name: string) => {
      if (!(value instanceof Date) || Number.isNaN(value.getTime()))
        throw new OutboxError('INVALID_OPTION', `${name} must be a valid Date, got ${String(value)}`);
    };
    if ('topic' in selector && selector.topic !== undefined && typeof selector.topic !== 'string')
      throw new OutboxError('INVALID_OPTION', 'topic must be a string');
    if ('olderThan' in selector) date(selector.olderThan, 'olderThan');
    if ('createdBefore' in selector && selector.createdBefore !== undefined)
      date(selector.createdBefore, 'createdBefore');
    if ('ids' in selector) {
      if (!Array.isArray(selector.ids))
        throw new OutboxError('INVALID_OPTION', 'ids must be an array of message ids');
      return { ids: selector.ids.map(checkId) };
    }
    const f: { topic?: string; createdBefore?: Date; maxId?: string } = {};
    if (selector.topic !== undefined) f.topic = selector.topic;
    if ('maxId' in selector && selector.maxId !== undefined) f.maxId = checkId(selector.maxId);
    if ('olderThan' in selector) f.createdBefore = selector.olderThan;
    else if (selector.createdBefore !== undefined) f.createdBefore = selector.createdBefore;
    else if (selector.all !== true) throw new OutboxError('INVALID_OPTION', 'pass { ids } or { all: true }');
    return f;
  }

  // Bulk changes run as many short statements of at most adminBatchSize rows, so a requeue of a
  // million dead letters never holds a million row locks, and a concurrent relay keeps working.
  async #inBatches(
    build: (limit: number) => { sql: string; params: readonly unknown[] },
    onProgress?: (n: number) => void,
  ) {
    let total = 0;
    for (;;) {
      const { sql, params } = build(this.#adminBatch);
      const { rowCount } = await this.db.query(sql, params);
      total += rowCount;
      onProgress?.(total);
      if (rowCount < this.#adminBatch) return total;
    }
  }

  async requeueDead(selector: DeadLetterSelector, onProgress?: (done: number) => void): Promise<number> {
    const filter = this.#filter(selector);
    if (filter.ids?.length === 0) return 0;
    try {
      return await this.#inBatches((limit) => this.dialect.requeue({ ...filter, limit }), onProgress);
    } catch (e) {
      wrapStoreError('requeueDead', e);
    }
  }

  async purge(
    status: 'sent' | 'dead',
    selector: DeadLetterSelector | { olderThan: Date; topic?: string },
    onProgress?: (done: number) => void,
  ): Promise<number> {
    if (status !== 'sent' && status !== 'dead') {
      throw new OutboxError(
        'INVALID_OPTION',
        `purge removes sent or dead messages only, not ${String(status)}`,
      );
    }
    const filter = this.#filter(selector);
    if (filter.ids?.length === 0) return 0;
    try {
      return await this.#inBatches((limit) => this.dialect.purge(status, { ...filter, limit }), onProgress);
    } catch (e) {
      wrapStoreError('purge', e);
    }
  }

  async stats(): Promise<OutboxStats> {
    const { sql, params } = this.dialect.stats();
    try {
      const { rows } = await this.db.query<Record<string, unknown>>(sql, params);
      return this.dialect.toStats(rows[0] ?? {});
    } catch (e) {
      wrapStoreError('stats', e);
    }
  }

  /**
   * Count messages in one state, optionally by topic, age and id bound, with the largest
   * matching id: count, confirm, then requeue or purge `{ all: true, maxId }` so the change
   * stops at what was counted.
   *
   * @example
   * ```ts
   * const { count, maxId } = await store.count('dead', { topic: 'orders' });
   * if (maxId && (await confirm(count))) await store.purge('dead', { all: true, topic: 'orders', maxId });
   * ```
   */
  async count(
    status: MessageStatus,
    filter: { topic?: string; createdBefore?: Date; maxId?: string } = {},
  ): Promise<MessageCount> {
    if (!['pending', 'sent', 'dead'].includes(status)) {
      throw new OutboxError('INVALID_OPTION', `status must be pending, sent or dead, got ${String(status)}`);
    }
    const f = this.#filter({ all: true, ...filter });
    const { sql, params } = this.dialect.count(status, f);
    try {
      const { rows } = await this.db.query<Record<string, unknown>>(sql, params);
      const maxId = rows[0]?.max_id;
      return { count: toInt(rows[0]?.n ?? 0), maxId: maxId == null ? null : String(maxId) };
    } catch (e) {
      wrapStoreError('count', e);
    }
  }

  /**
   * Messages sent within each window before the database's clock, in one query (by default
   * the last minute and the last hour).
   *
   * @example
   * ```ts
   * const { counts: [lastMinute, lastHour] } = await store.sentCounts([60_000, 3_600_000]);
   * ```
   */
  async sentCounts(
    windowsMs: readonly number[] = [60_000, 3_600_000],
  ): Promise<{ now: Date; counts: number[] }> {
    if (!Array.isArray(windowsMs) || windowsMs.length === 0) {
      throw new OutboxError('INVALID_OPTION', 'sentCounts needs at least one window in ms');
    }
    for (const w of windowsMs) positiveInt(w, 'a sentCounts window');
    const { sql, params } = this.dialect.sentCounts(windowsMs);
    try {
      const { rows } = await this.db.query<Record<string, unknown>>(sql, params);
      const row = rows[0] ?? {};
      return { now: toDate(row.now), counts: windowsMs.map((_, i) => toInt(row[`w${i}`] ?? 0)) };
    } catch (e) {
      wrapStoreError('sentCounts', e);
    }
  }

  /** The database's clock (ages and retention are measured by it, not by this machine's). */
  async now(): Promise<Date> {
    const { sql, params } = this.dialect.now();
    try {
      const { rows } = await this.db.query<Record<string, unknown>>(sql, params);
      return toDate(rows[0]?.now);
    } catch (e) {
      wrapStoreError('now', e);
    }
  }

  /**
   * Whether the outbox table exists, whether it is partitioned, and its migration version
   * against the newest this version of troutbox knows.
   *
   * @example
   * ```ts
   * const s = await store.tableStatus();
   * if (!s.exists || s.version! < s.latest) await store.migrate();
   * ```
   */
  async tableStatus(): Promise<TableStatus> {
    try {
      return await this.dialect.tableStatus(this.db);
    } catch (e) {
      wrapStoreError('tableStatus', e);
    }
  }

  /**
   * Retention for the plain table: delete sent messages older than a bound, oldest first, in
   * statements of at most `batchSize` rows (never one unbounded DELETE), each committed on its
   * own so relays and producers keep working beside it. Pending and dead messages are never
   * touched; dead ones stay until purged. Returns how many were deleted. Run it on an interval
   * with {@link startPruning}.
   *
   * @example
   * ```ts
   * await store.pruneSent({ olderThanMs: 7 * 24 * 3600_000, batchSize: 5000 });
   * ```
   */
  async pruneSent(options: PruneOptions): Promise<number> {
    if (typeof options !== 'object' || options === null) {
      throw new OutboxError('INVALID_OPTION', 'pruneSent needs { olderThan } or { olderThanMs }');
    }
    const { olderThan, olderThanMs } = options;
    if ((olderThan === undefined) === (olderThanMs === undefined)) {
      throw new OutboxError('INVALID_OPTION', 'pruneSent needs exactly one of olderThan and olderThanMs');
    }
    if (olderThan !== undefined && (!(olderThan instanceof Date) || Number.isNaN(olderThan.getTime())))
      throw new OutboxError('INVALID_OPTION', `olderThan must be a valid Date, got ${String(olderThan)}`);
    if (olderThanMs !== undefined && (typeof olderThanMs !== 'number' || !(olderThanMs >= 0)))
      throw new OutboxError('INVALID_OPTION', `olderThanMs must be a number ≥ 0, got ${String(olderThanMs)}`);
    const { limit, maxBatches } = batching(options);
    const sentBefore = olderThan ?? new Date((await this.now()).getTime() - olderThanMs!);
    let total = 0;
    try {
      for (let batches = 0; batches < maxBatches; batches++) {
        const { sql, params } = this.dialect.pruneSent({ sentBefore, limit });
        const { rowCount } = await this.db.query(sql, params);
        total += rowCount;
        options.onProgress?.(total);
        if (rowCount < limit) break;
      }
      return total;
    } catch (e) {
      wrapStoreError('pruneSent', e);
    }
  }

  /**
   * Delete the per-key counters of an ordered table (`<table>_keys`, one row per key ever
   * written with `ordering: 'key'`) whose keys have no pending and no dead message: the table
   * would otherwise grow by a row for every key ever used (an order id, say). A pruned key that
   * comes back starts its counter again, which is safe because none of its messages is left
   * to be ordered against. A counter a producer bumps meanwhile is kept. Runs in statements of
   * `batchSize` counters, walking the keys once; returns how many were deleted.
   * {@link startPruning} runs it after `pruneSent` on ordered tables.
   *
   * @example
   * ```ts
   * await store.pruneKeys({ batchSize: 5000 });
   * ```
   */
  async pruneKeys(options: PruneKeysOptions = {}): Promise<number> {
    if (typeof options !== 'object' || options === null)
      throw new OutboxError('INVALID_OPTION', 'pruneKeys options must be an object');
    const { limit, maxBatches } = batching(options);
    let after: string | null = null;
    let total = 0;
    try {
      for (let batches = 0; batches < maxBatches; batches++) {
        const scan = this.dialect.keyCounters(after, limit);
        const { rows } = await this.db.query<{ key: unknown; seq: unknown; idle: unknown }>(
          scan.sql,
          scan.params,
        );
        const idle = rows
          .filter((r) => toBool(r.idle))
          .map((r) => ({ key: String(r.key), seq: String(r.seq) }));
        if (idle.length > 0) {
          const del = this.dialect.deleteKeyCounters(idle);
          total += (await this.db.query(del.sql, del.params)).rowCount;
          options.onProgress?.(total);
        }
        if (rows.length < limit) break;
        after = String(rows.at(-1)!.key);
      }
      return total;
    } catch (e) {
      wrapStoreError('pruneKeys', e);
    }
  }

  #partitionSupport(operation: string) {
    const support = this.dialect.partitions;
    if (!support) {
      throw new OutboxError(
        'INVALID_OPTION',
        `${operation}: partitioned tables are not available on ${this.dialect.name}`,
      );
    }
    return support;
  }

  /**
   * The partitions of a partitioned table (PostgreSQL): name, range, kind, exact pending and
   * dead counts, an estimated row count, and whether maintenance will drop it. A plain table
   * answers `{ partitioned: false, partitions: [] }`.
   *
   * @example
   * ```ts
   * for (const p of (await store.partitions()).partitions) console.log(p.name, p.from, p.pending, p.droppable);
   * ```
   */
  async partitions(): Promise<PartitionListing> {
    const support = this.#partitionSupport('partitions()');
    try {
      return await support.list(this.db);
    } catch (e) {
      wrapStoreError('partitions', e);
    }
  }

  /**
   * One partition maintenance run, in one transaction under the advisory lock `lockId`: create
   * the partitions ahead (moving rows that waited in DEFAULT into them), drop those past
   * retention — after moving their pending and dead messages into DEFAULT, ids and timestamps
   * unchanged — and delete old sent rows from DEFAULT. A run that finds the lock taken does
   * nothing and answers `ran: false`. See {@link startPartitionMaintenance} for an interval job.
   *
   * @example
   * ```ts
   * const report = await store.maintainPartitions({ lockId: 4242 });
   * if (report.kept.length > 0) log.warn('partitions kept past retention', report.kept);
   * ```
   */
  async maintainPartitions(options: PartitionMaintenanceOptions): Promise<PartitionMaintenanceReport> {
    const support = this.#partitionSupport('maintainPartitions()');
    try {
      return await support.maintain(this.db, options);
    } catch (e) {
      wrapStoreError('maintainPartitions', e);
    }
  }

  migrate(options: { to?: number } = {}): Promise<MigrateResult> {
    return this.dialect.migrate(this.db, options);
  }
}
