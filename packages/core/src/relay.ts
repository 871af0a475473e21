import type { Outcome } from './dialect/dialect.js';
import { describeError, OutboxError } from './errors.js';
import { type RelayEventMap, TypedEmitter } from './events.js';
import type { OutboxMessage } from './message.js';
import { optionChecks, optionNames, rejectUnknownOptions } from './options.js';
import { type BackoffOptions, backoffDelay, resolveBackoff, retryDelay } from './retry.js';
import type { Sender, SendResult } from './sender.js';
import type { MessageStore } from './store.js';
import { noTelemetry, type RelayTelemetry, relayTelemetry } from './telemetry.js';
import { onLocalWrite } from './wakeups.js';

/** Options of {@link createRelay}. */
export interface RelayOptions {
  /** Where messages are claimed from and results recorded. */
  store: MessageStore;
  /** Where messages are delivered. */
  sender: Sender;
  /** Messages claimed per batch. @defaultValue 200 */
  batchSize?: number;
  /** Batches in flight at once in this process (each on its own connection). @defaultValue 1 */
  concurrency?: number;
  /** How long an idle relay waits before looking again, without a wake-up. @defaultValue 500 */
  pollIntervalMs?: number;
  /** Attempts before a message is dead. @defaultValue 10 */
  maxAttempts?: number;
  /** Retry delays. @defaultValue `{ initialDelayMs: 1000, factor: 2, maxDelayMs: 300000, jitter: 0.5 }` */
  backoff?: Partial<BackoffOptions>;
  /** A sender call that has not settled by then fails its whole batch (one attempt each) and is aborted. @defaultValue 30000 */
  sendTimeoutMs?: number;
  /** How long `stop()` lets in-flight batches finish before aborting their sends. @defaultValue 30000 */
  stopTimeoutMs?: number;
  /** Pause after a database error before claiming again. @defaultValue 1000 */
  errorDelayMs?: number;
  /** Called for every error event (a lost connection, a failed commit, a throwing listener). @defaultValue none */
  onError?: (error: unknown, operation: string) => void;
  /**
   * Where a relay whose errors nobody handles (no `onError`, no `'error'` listener) reports them:
   * one line per distinct failure (operation and message), at most once a minute each, with the
   * number of repeats not shown since. `false`: say nothing.
   * @defaultValue `console` (its `warn`)
   */
  logger?: RelayLogger | false;
  /** Close the sender when the relay stops. @defaultValue false */
  closeSender?: boolean;
  /** Longest `lastError` stored. @defaultValue 2000 */
  maxErrorLength?: number;
  /**
   * Listen for the producers' notifications where the store can (PostgreSQL with `pgPool` or
   * PGlite), on a connection of its own that reconnects by itself; the poll interval stays the
   * fallback. `false`: poll (and in-process wake-ups) only.
   * @defaultValue true
   */
  listen?: boolean;
  /** First wait before reopening a lost listening connection; it doubles up to 30 s. @defaultValue 100 */
  listenRetryDelayMs?: number;
  /**
   * Metrics and traces; `false` turns them off.
   * @defaultValue `relayTelemetry({ store, sender })` on the global OpenTelemetry API (a no-op until an SDK is registered)
   */
  telemetry?: RelayTelemetry | false;
}

/**
 * What the relay logs unhandled errors to (see {@link RelayOptions.logger}): `console`, or a
 * logger of your own (pino, winston…) — anything with `warn(message)`.
 *
 * @example
 * ```ts
 * createRelay({ store, sender, logger: { warn: (line) => log.warn(line) } });
 * ```
 */
export interface RelayLogger {
  warn(message: string): void;
}

/** {@link RelayOptions} with every default applied; frozen. */
export type ResolvedRelayOptions = Readonly<
  Required<Omit<RelayOptions, 'onError' | 'backoff' | 'telemetry' | 'logger'>> & {
    backoff: Readonly<BackoffOptions>;
    telemetry: RelayTelemetry;
    onError: RelayOptions['onError'];
    logger: RelayLogger | false;
  }
>;

const { positiveInt } = optionChecks();

function resolveTelemetry(options: RelayOptions): RelayTelemetry {
  const t = options.telemetry;
  if (t === false) return noTelemetry;
  if (t === undefined) return relayTelemetry({ store: options.store, sender: options.sender });
  if (typeof t?.startBatch !== 'function') {
    throw new OutboxError(
      'INVALID_OPTION',
      'telemetry must be relayTelemetry(…), a RelayTelemetry, or false',
    );
  }
  return t;
}

/**
 * Text every database can store: no NUL (PostgreSQL refuses it in text) and no lone UTF-16
 * surrogate (a cut through an emoji, which MySQL's JSON functions refuse). A `lastError` the
 * database refuses would fail the batch's commit on every attempt, so it is cleaned here, once.
 */
export function storableText(text: string): string {
  return text
    .replaceAll('\u0000', '')
    .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}

function checkBoolean(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') {
    throw new OutboxError('INVALID_OPTION', `${name} must be a boolean, got ${String(value)}`);
  }
  return value;
}

/** Apply defaults and check every option once. */
export function resolveRelayOptions(options: RelayOptions): ResolvedRelayOptions {
  rejectUnknownOptions('createRelay', options, optionNames.createRelay);
  if (!options || typeof options.store?.claim !== 'function') {
    throw new OutboxError('INVALID_OPTION', 'createRelay needs a store (new SqlMessageStore(…))');
  }
  if (typeof options.sender?.send !== 'function') {
    throw new OutboxError(
      'INVALID_OPTION',
      'createRelay needs a sender with a send(messages, context) method',
    );
  }
  if (options.onError !== undefined && typeof options.onError !== 'function') {
    throw new OutboxError('INVALID_OPTION', 'onError must be a function');
  }
  if (
    options.logger !== undefined &&
    options.logger !== false &&
    typeof (options.logger as Partial<RelayLogger> | null)?.warn !== 'function'
  ) {
    throw new OutboxError('INVALID_OPTION', 'logger must be false or have a warn(message) method');
  }
  if (options.closeSender !== undefined && typeof options.closeSender !== 'boolean') {
    throw new OutboxError(
      'INVALID_OPTION',
      `closeSender must be a boolean, got ${String(options.closeSender)}`,
    );
  }
  if (
    options.backoff !== undefined &&
    (typeof options.backoff !== 'object' || options.backoff === null || Array.isArray(options.backoff))
  ) {
    throw new OutboxError('INVALID_OPTION', 'backoff must be an object of BackoffOptions');
  }
  return Object.freeze({
    store: options.store,
    sender: options.sender,
    batchSize: positiveInt(options.batchSize, 'batchSize', 200),
    concurrency: positiveInt(options.concurrency, 'concurrency', 1),
    pollIntervalMs: positiveInt(options.pollIntervalMs, 'pollIntervalMs', 500),
    maxAttempts: positiveInt(options.maxAttempts, 'maxAttempts', 10),
    backoff: resolveBackoff(options.backoff),
    sendTimeoutMs: positiveInt(options.sendTimeoutMs, 'sendTimeoutMs', 30_000),
    stopTimeoutMs: positiveInt(options.stopTimeoutMs, 'stopTimeoutMs', 30_000, 0),
    errorDelayMs: positiveInt(options.errorDelayMs, 'errorDelayMs', 1000, 0),
    onError: options.onError,
    logger: options.logger ?? console,
    closeSender: options.closeSender ?? false,
    maxErrorLength: positiveInt(options.maxErrorLength, 'maxErrorLength', 2000, 16),
    listen: checkBoolean(options.listen, 'listen', true),
    listenRetryDelayMs: positiveInt(options.listenRetryDelayMs, 'listenRetryDelayMs', 100),
    telemetry: resolveTelemetry(options),
  });
}

/**
 * The relay's life cycle:
 *
 * ```
 *  idle ──start()──► running ──stop()──► stopping ──(drained)──► stopped
 *   │                                                              │
 *   └──────────── runOnce() allowed ◄──────── start() again ───────┘
 * ```
 *
 * `runOnce()` may run in `idle`, `running` and `stopped`; `stop()` also drains a `runOnce()`
 * in progress. In `stopping` neither `start()` nor `runOnce()` is allowed.
 */
export type RelayState = 'idle' | 'running' | 'stopping' | 'stopped';

/** Totals of a {@link Relay.runOnce} call. */
export interface RunSummary {
  batches: number;
  sent: number;
  retried: number;
  dead: number;
}

/** The relay: claims batches, sends them and records the results. */
export interface Relay {
  readonly state: RelayState;
  readonly options: ResolvedRelayOptions;
  /** Start `concurrency` batch loops in the background. */
  start(): Promise<void>;
  /**
   * Stop claiming; let in-flight batches (of the loops and of any `runOnce()`) finish, aborting
   * their sends after `timeoutMs` (default `stopTimeoutMs`); resolve when none is left. A batch
   * whose send was aborted is recorded as a failed attempt, so no batch is left half-done.
   * Calling `stop()` again while stopping returns the same promise.
   */
  stop(options?: { timeoutMs?: number }): Promise<void>;
  /**
   * Process batches until one comes back less than full (or `maxBatches`, or `signal` aborts,
   * or `stop()` is called), then return; on an ordered store, a partial batch that sent
   * messages is followed by another, until one sends nothing. For cron jobs and serverless
   * functions. Database errors reject the returned promise.
   */
  runOnce(options?: { maxBatches?: number; signal?: AbortSignal }): Promise<RunSummary>;
  /**
   * Look for work now instead of at the next poll. Safe to call before the producer's commit
   * (from `createOutbox({ onAdd })`, which runs after the insert, not the commit): after a
   * wake-up that finds nothing the relay looks again after 1, 2, 4 … 1024 ms (while shorter
   * than `pollIntervalMs`) before it falls back to polling, so a commit that follows within
   * about a second is picked up at once, for at most eleven extra claim queries.
   *
   * @example
   * ```ts
   * const relay = createRelay({ store, sender });
   * const outbox = createOutbox({ dialect, onAdd: () => relay.wake() });
   * ```
   */
  wake(): void;
  on<K extends keyof RelayEventMap>(event: K, listener: (event: RelayEventMap[K]) => void): () => void;
  off<K extends keyof RelayEventMap>(event: K, listener: (event: RelayEventMap[K]) => void): void;
}

interface BatchReport {
  claimed: number;
  sent: number;
  retried: number;
  dead: number;
  /** The claim lost a deadlock (or a serialization conflict): nothing was claimed; try again now. */
  conflict?: boolean;
}

/** The messages of a batch whose outcomes were recorded, with those outcomes and the sender's results. */
interface RecordedBatch {
  messages: OutboxMessage[];
  outcomes: Outcome[];
  results: SendResult[];
}

/** Claims in a row that may lose a lock conflict and be retried at once, before it counts as an error. */
const CLAIM_CONFLICT_RETRIES = 3;

/**
 * A deadlock or serialization failure: the database rolled the transaction back and asks for it
 * to be run again (PostgreSQL 40P01 / 40001, MySQL and MariaDB errno 1213).
 */
function isLockConflict(error: unknown): boolean {
  const e = error as { code?: unknown; errno?: unknown; sqlState?: unknown } | null;
  return e?.code === '40P01' || e?.code === '40001' || e?.errno === 1213 || e?.sqlState === '40001';
}

/**
 * Whether `error` says the database connection is gone (a restart, a kill, a network failure)
 * rather than that the database refused a statement: PostgreSQL's connection-exception and
 * shutdown SQLSTATEs, mysql2's fatal errors, the socket errors of Node, and node-postgres's
 * messages for a broken client; the `cause` chain of wrapping errors (ORMs) is followed. A
 * batch that failed for this reason is claimed again later, with no attempt counted.
 */
export function isConnectionLoss(error: unknown): boolean {
  let e = error as
    | { code?: unknown; errno?: unknown; fatal?: unknown; message?: unknown; cause?: unknown }
    | null
    | undefined;
  for (let depth = 0; depth < 5 && typeof e === 'object' && e !== null; depth++) {
    const code = typeof e.code === 'string' ? e.code : '';
    if (/^08/.test(code) || ['57P01', '57P02', '57P03'].includes(code)) return true;
    if (CONNECTION_CODES.has(code) || e.fatal === true) return true;
    if (e.errno === 2006 || e.errno === 2013 || e.errno === 1927 || e.errno === 1053) return true;
    if (typeof e.message === 'string' && CONNECTION_MESSAGE.test(e.message)) return true;
    e = e.cause as typeof e;
  }
  return false;
}

const CONNECTION_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'PROTOCOL_CONNECTION_LOST',
  // Prisma: server unreachable, connection closed.
  'P1001',
  'P1017',
]);
const CONNECTION_MESSAGE =
  /Connection terminated|not queryable|connection error|Connection lost|closed state|server closed the connection/i;

/**
 * Errors of batches that sent messages whose outcomes could not be recorded at all (not even
 * the fallback): the loop backs off from them with a growing delay, as they resend messages.
 */
const unrecorded = new WeakSet<object>();

/** Printable ASCII only (anything else becomes `?`), at most `max` characters. */
function plainText(text: string, max: number): string {
  const plain = text.replace(/[^\x20-\x7E]/g, '?');
  return plain.length > max ? `${plain.slice(0, Math.max(0, max - 3))}...` : plain;
}

/**
 * First follow-up look after a wake-up that found nothing; each next one waits twice as long.
 * Producers notify at most once per few milliseconds, so what commits just after a notified
 * transaction is found by these looks: dense at first (1, 2, 4, 8 ms…), then sparse.
 */
const WAKE_LINGER_FIRST_MS = 1;
/** Follow-up looks stop once the wait would exceed this (1, 2, 4 … 1024 ms: 11 extra claims). */
const WAKE_LINGER_MAX_MS = 2000;

/** A relay logs each distinct unhandled failure at most once per this interval. */
const LOG_INTERVAL_MS = 60_000;
/** Distinct failures remembered for the rate limit; the oldest is forgotten first. */
const LOG_MEMORY = 100;

/** Longest wait before reopening a lost listening connection. */
const LISTEN_RETRY_MAX_MS = 30_000;

/** Why a message of an ordered batch was not attempted (telemetry's span status only). */
const NOT_ATTEMPTED = new OutboxError(
  'RELAY_STATE',
  'not attempted: an earlier message of its key was not sent in this batch',
);

function abortable(ms: number, signals: AbortSignal[]): Promise<void> {
  return new Promise((resolve) => {
    if (signals.some((s) => s.aborted)) return resolve();
    const done = () => {
      clearTimeout(timer);
      for (const s of signals) s.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    for (const s of signals) s.addEventListener('abort', done, { once: true });
  });
}

class OutboxRelay implements Relay {
  readonly options: ResolvedRelayOptions;
  readonly #events = new TypedEmitter<RelayEventMap>({
    // A throwing listener reaches onError too, not only the `error` event.
    onListenerError: (error, event) => this.#error(error, `listener:${String(event)}`),
  });
  #state: RelayState = 'idle';
  /** Aborted by stop(): no new claims, by the loops or by runOnce(). */
  #loop = new AbortController();
  /** Aborted when the drain deadline passes: in-flight sends are cancelled. */
  #hard = new AbortController();
  /** Aborted (and replaced) by wake(). */
  #wake = new AbortController();
  /** The loops of start() and every runOnce() in progress: what stop() drains. */
  readonly #inFlight = new Set<Promise<unknown>>();
  #stopping: Promise<void> | undefined;
  /** When each distinct unhandled failure was last logged, and its repeats since (see #log). */
  readonly #logged = new Map<string, { at: number; repeats: number }>();

  constructor(options: RelayOptions) {
    this.options = resolveRelayOptions(options);
  }

  get state(): RelayState {
    return this.#state;
  }

  on<K extends keyof RelayEventMap>(event: K, listener: (event: RelayEventMap[K]) => void): () => void {
    return this.#events.on(event, listener);
  }

  off<K extends keyof RelayEventMap>(event: K, listener: (event: RelayEventMap[K]) => void): void {
    this.#events.off(event, listener);
  }

  wake(): void {
    const previous = this.#wake;
    this.#wake = new AbortController();
    previous.abort();
  }

  #error(error: unknown, operation: string): void {
    const handled = this.options.onError !== undefined || this.#events.listenerCount('error') > 0;
    this.#events.emit('error', { error, operation });
    if (this.options.onError) {
      try {
        this.options.onError(error, operation);
      } catch {
        // The handler is the last resort; nothing useful can be done with its own failure.
      }
    }
    // A relay that cannot reach its database must not fail in silence.
    if (!handled) this.#log(error, operation);
  }

  /**
   * One line for an unhandled error, unless the same operation failed with the same message
   * within {@link LOG_INTERVAL_MS}: a relay that cannot reach its database fails every
   * `errorDelayMs`, and a line each time would drown the log. Repeats are counted and the count
   * is given with the next line of that failure.
   */
  #log(error: unknown, operation: string): void {
    const { logger } = this.options;
    if (logger === false) return;
    const text = describeError(error);
    const key = `${operation}\u0000${text}`;
    const now = Date.now();
    const seen = this.#logged.get(key);
    if (seen && now - seen.at < LOG_INTERVAL_MS) {
      seen.repeats++;
      return;
    }
    // Deleted and set again: the map's order is then least recently logged first.
    this.#logged.delete(key);
    this.#logged.set(key, { at: now, repeats: 0 });
    if (this.#logged.size > LOG_MEMORY) this.#logged.delete(this.#logged.keys().next().value!);
    const repeats =
      seen && seen.repeats > 0
        ? ` (${seen.repeats} more since ${new Date(seen.at).toISOString()} not shown)`
        : '';
    try {
      logger.warn(
        `troutbox relay: ${operation} failed: ${text}${repeats}; handle relay errors with onError or relay.on('error', …) to replace this log`,
      );
    } catch {
      // A logger that throws must not break the loop either.
    }
  }

  #track<T>(work: Promise<T>): Promise<T> {
    this.#inFlight.add(work);
    const untrack = () => this.#inFlight.delete(work);
    work.then(untrack, untrack);
    return work;
  }

  /** Fresh signals for a new run, unless a run is already using the current ones. */
  #renew(): void {
    if (this.#inFlight.size > 0 && !this.#loop.signal.aborted) return;
    this.#loop = new AbortController();
    this.#hard = new AbortController();
  }

  async start(): Promise<void> {
    if (this.#state === 'running') return;
    if (this.#state === 'stopping')
      throw new OutboxError('RELAY_STATE', 'the relay is stopping; await stop() first');
    this.#renew();
    this.#state = 'running';
    const loop = this.#loop.signal;
    for (let i = 0; i < this.options.concurrency; i++) this.#track(this.#work(loop));
    const { store } = this.options;
    if (store.channel !== undefined) {
      const off = onLocalWrite(store.channel, () => this.wake());
      loop.addEventListener('abort', off, { once: true });
    }
    if (this.options.listen && typeof store.listen === 'function') this.#track(this.#listen(loop));
  }

  /**
   * Keep a LISTEN open while the relay runs: each notification wakes the loops. A lost
   * connection is reopened after a growing, jittered delay, and each (re)opening wakes the
   * loops once, since notifications sent while it was down are gone.
   */
  async #listen(loop: AbortSignal): Promise<void> {
    const { store, listenRetryDelayMs } = this.options;
    let delay = listenRetryDelayMs;
    let opened = false;
    while (!loop.aborted) {
      let lostWith: ((error: Error) => void) | undefined;
      const lost = new Promise<Error>((resolve) => {
        lostWith = resolve;
      });
      try {
        const subscription = await store.listen!(
          () => this.wake(),
          (error) => lostWith!(error),
        );
        if (!subscription) return; // the database or executor cannot listen: poll only
        if (opened) this.wake();
        opened = true;
        delay = listenRetryDelayMs;
        const stopped = new Promise<null>((resolve) => {
          if (loop.aborted) resolve(null);
          loop.addEventListener('abort', () => resolve(null), { once: true });
        });
        const error = await Promise.race([lost, stopped]);
        await subscription.close();
        if (error === null) return;
        this.#error(error, 'listen');
      } catch (error) {
        this.#error(error, 'listen');
      }
      await abortable(delay * (0.5 + Math.random() / 2), [loop]);
      delay = Math.min(delay * 2, LISTEN_RETRY_MAX_MS);
      // Whatever happened, messages may have been committed unannounced meanwhile.
      opened = true;
    }
  }

  async #work(loop: AbortSignal): Promise<void> {
    const { batchSize, pollIntervalMs, errorDelayMs, backoff } = this.options;
    let linger = 0;
    // Batches in a row whose outcomes could not be recorded at all: each resent messages, so
    // the pause after them doubles (from errorDelayMs, up to backoff.maxDelayMs).
    let unrecordedInARow = 0;
    while (!loop.aborted) {
      // Taken before the batch, so a wake() that arrives while it runs is not lost.
      const wake = this.#wake.signal;
      let report: BatchReport;
      try {
        report = await this.#batch(loop);
      } catch (error) {
        this.#error(error, 'batch');
        let delay = errorDelayMs;
        if (typeof error === 'object' && error !== null && unrecorded.has(error)) {
          unrecordedInARow++;
          delay = Math.min(
            Math.max(errorDelayMs, 1) * 2 ** (unrecordedInARow - 1),
            Math.max(errorDelayMs, backoff.maxDelayMs),
          );
        } else unrecordedInARow = 0;
        await abortable(delay, [loop]);
        continue;
      }
      unrecordedInARow = 0;
      if (report.claimed >= batchSize || this.#goOn(report)) continue;
      // A wake-up usually comes before the producer's commit: keep looking, at growing
      // intervals, for a short while before falling back to the poll interval.
      if (wake.aborted) linger = WAKE_LINGER_FIRST_MS;
      let delay = pollIntervalMs;
      if (linger > 0) {
        delay = Math.min(linger, pollIntervalMs);
        linger *= 2;
        if (linger > WAKE_LINGER_MAX_MS || linger >= pollIntervalMs) linger = 0;
      }
      const waitWake = this.#wake.signal;
      await abortable(delay, [loop, waitWake]);
      if (waitWake.aborted && !loop.aborted) linger = WAKE_LINGER_FIRST_MS;
    }
  }

  /**
   * Whether a batch that came back less than full is followed by another claim at once: on an
   * ordered table, when it sent (or buried) messages. An ordered claim can be partial while more
   * of its keys' messages are due — a key's run stops at a gap in its seqs, and at its fair share
   * among the keys walked, keys held back by a retry included — and what it delivered made those
   * keys' next messages their heads. Waiting a poll interval would drain such a key one run per
   * poll. The looks stop at the first claim that sends nothing.
   */
  #goOn(report: BatchReport): boolean {
    return this.options.store.ordering === 'key' && report.sent + report.dead > 0;
  }

  /**
   * One claim → send → record → commit cycle. Throws only for database errors. A claim that lost
   * a lock conflict (InnoDB may pick a locking claim as a deadlock victim) has sent nothing and
   * is run again at once, {@link CLAIM_CONFLICT_RETRIES} times before the conflict is thrown.
   */
  async #batch(loop: AbortSignal, signal?: AbortSignal): Promise<BatchReport> {
    for (let conflicts = 0; ; conflicts++) {
      const report = await this.#attempt(loop, signal, conflicts >= CLAIM_CONFLICT_RETRIES);
      if (!report.conflict) return report;
    }
  }

  /** One try of {@link #batch}: a lost claim conflict is a `conflict` report unless `conflictIsError`. */
  async #attempt(
    loop: AbortSignal,
    signal: AbortSignal | undefined,
    conflictIsError: boolean,
  ): Promise<BatchReport> {
    const { store } = this.options;
    const started = performance.now();
    const hard = this.#hard.signal;
    let batch: OutboxMessage[] = [];
    let attempted: OutboxMessage[] = [];
    let outcomes: Outcome[] = [];
    let results: readonly SendResult[] = [];
    const telemetry = this.options.telemetry.startBatch();
    let claiming = true;
    // Set when the store refused to record the outcomes (not when the commit failed after it).
    let recordError: { error: unknown } | undefined;
    try {
      await store.transaction(async (tx) => {
        // Checked inside the transaction too: a relay told to stop while waiting for a
        // connection must not claim.
        if (loop.aborted || signal?.aborted) return;
        const claimed = await store.claim(tx, this.options.batchSize);
        claiming = false;
        // Claimed after the drain deadline: nothing was attempted, so the commit just unlocks
        // the rows, without costing them an attempt.
        if (claimed.length === 0 || hard.aborted) return;
        batch = claimed;
        let perMessage: readonly (SendResult | undefined)[] = [];
        await telemetry.send(batch, async () => {
          perMessage = await this.#sendInOrder(batch, hard);
          return perMessage.map((r) => r ?? ({ status: 'retry', error: NOT_ATTEMPTED } as const));
        });
        // Messages held back behind a failure of their key get no outcome: they stay pending,
        // unlocked at commit, without an attempt counted.
        const sentResults: SendResult[] = [];
        attempted = [];
        perMessage.forEach((r, i) => {
          if (r === undefined) return;
          attempted.push(batch[i]!);
          sentResults.push(r);
        });
        results = sentResults;
        outcomes = this.#decide(attempted, results);
        try {
          await store.complete(tx, outcomes);
        } catch (error) {
          recordError = { error };
          throw error;
        }
      });
    } catch (error) {
      if (recordError && attempted.length > 0 && !isConnectionLoss(error)) {
        // The database refused the outcomes themselves: the rollback left the batch pending and
        // due, uncounted. Record a fallback instead (below), so that it cannot loop uncounted.
        this.#error(error, 'complete');
        let fallback: RecordedBatch;
        try {
          fallback = await this.#recordFallback(attempted, outcomes, results, error);
        } catch (fallbackError) {
          telemetry.failed(fallbackError);
          const failure = new OutboxError(
            'STORE_FAILED',
            `the outcomes of a batch of ${attempted.length} messages could not be recorded (${describeError(error)}), nor a fallback outcome (${describeError(fallbackError)}); the batch stays pending`,
            { operation: 'complete', cause: fallbackError },
          );
          unrecorded.add(failure);
          throw failure;
        }
        telemetry.committed(fallback.messages, fallback.outcomes);
        const report = this.#report(
          fallback.messages,
          fallback.outcomes,
          fallback.results,
          performance.now() - started,
        );
        report.claimed = batch.length;
        return report;
      }
      // Nothing is counted for a batch whose commit failed: the database does not say it happened.
      telemetry.failed(error);
      // Nothing was sent yet: the claim is simply run again.
      if (claiming && !conflictIsError && isLockConflict(error))
        return { claimed: 0, sent: 0, retried: 0, dead: 0, conflict: true };
      throw error;
    }
    if (batch.length === 0) telemetry.empty();
    else telemetry.committed(attempted, outcomes);
    const report = this.#report(attempted, outcomes, results, performance.now() - started);
    report.claimed = batch.length;
    return report;
  }

  /**
   * Send a batch. An ordered store's batch may hold several messages of one key (its first
   * pending one and those after it, in order): they go in waves — the n-th message of every key
   * in the n-th send call — so no call holds two messages of one key and a key's next message is
   * sent only once the one before it was. A key whose message was not sent has its later
   * messages left out (undefined: not attempted). Otherwise one call for the whole batch.
   */
  async #sendInOrder(
    batch: OutboxMessage[],
    hard: AbortSignal,
  ): Promise<readonly (SendResult | undefined)[]> {
    if (this.options.store.ordering !== 'key') return this.#send(batch, hard);
    const waves: number[][] = [];
    const depth = new Map<string, number>();
    batch.forEach((m, i) => {
      let wave = 0;
      if (m.key !== null) {
        wave = depth.get(m.key) ?? 0;
        depth.set(m.key, wave + 1);
      }
      const members = waves[wave];
      if (members) members.push(i);
      else waves[wave] = [i];
    });
    if (waves.length === 1) return this.#send(batch, hard);
    const results: (SendResult | undefined)[] = new Array(batch.length).fill(undefined);
    const blocked = new Set<string>();
    for (const wave of waves) {
      const todo = wave.filter((i) => batch[i]!.key === null || !blocked.has(batch[i]!.key!));
      if (todo.length === 0) continue;
      // Past the drain deadline: what has not started is left for the next claim, unattempted.
      if (hard.aborted) break;
      const sent = await this.#send(
        todo.map((i) => batch[i]!),
        hard,
      );
      todo.forEach((i, j) => {
        const r = sent[j]!;
        results[i] = r;
        const key = batch[i]!.key;
        if (r.status !== 'sent' && key !== null) blocked.add(key);
      });
    }
    return results;
  }

  async #send(batch: OutboxMessage[], hard: AbortSignal): Promise<readonly SendResult[]> {
    const { sender, sendTimeoutMs } = this.options;
    const controller = new AbortController();
    const onHard = () =>
      controller.abort(new OutboxError('RELAY_STATE', 'relay stopped before the send finished'));
    if (hard.aborted) onHard();
    else hard.addEventListener('abort', onHard, { once: true });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = new OutboxError('SEND_TIMEOUT', `sender did not settle within ${sendTimeoutMs} ms`);
        controller.abort(error);
        reject(error);
      }, sendTimeoutMs);
      controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
    });
    try {
      const results = await Promise.race([sender.send(batch, { signal: controller.signal }), timeout]);
      return this.#checkResults(batch, results);
    } catch (error) {
      // The whole batch failed: every message is counted one attempt, none is taken as sent.
      return batch.map(() => ({ status: 'retry', error }) as const);
    } finally {
      clearTimeout(timer);
      hard.removeEventListener('abort', onHard);
      timeout.catch(() => {});
    }
  }

  #checkResults(batch: OutboxMessage[], results: unknown): readonly SendResult[] {
    if (!Array.isArray(results)) {
      const error = new OutboxError(
        'SENDER_CONTRACT',
        `sender returned ${typeof results}, not an array of results`,
      );
      return batch.map(() => ({ status: 'retry', error }) as const);
    }
    return batch.map((_, i) => {
      const r = results[i] as SendResult | undefined;
      if (r && (r.status === 'sent' || r.status === 'retry' || r.status === 'dead')) return r;
      return {
        status: 'retry',
        error: new OutboxError(
          'SENDER_CONTRACT',
          `sender returned no valid result for message ${i + 1} of ${batch.length}`,
        ),
      } as const;
    });
  }

  #decide(batch: OutboxMessage[], results: readonly SendResult[]): Outcome[] {
    const { maxAttempts, backoff, maxErrorLength } = this.options;
    const clip = (e: unknown) => {
      const text = storableText(describeError(e));
      return text.length > maxErrorLength ? storableText(`${text.slice(0, maxErrorLength - 1)}…`) : text;
    };
    return batch.map((message, i) => {
      const result = results[i]!;
      if (result.status === 'sent') return { id: message.id, status: 'sent' };
      const attempts = message.attempts + 1;
      if (result.status === 'dead' || attempts >= maxAttempts) {
        return { id: message.id, status: 'dead', error: clip(result.error) };
      }
      const delayMs = retryDelay(backoff, attempts, result.retryAfterMs);
      return { id: message.id, status: 'retry', error: clip(result.error), delayMs };
    });
  }

  /**
   * A batch's outcomes were refused by the database (not a lost connection) and its transaction
   * rolled back. Record, in a new transaction, an outcome that cannot be refused: a sent message
   * stays sent; any other counts its attempt, with a printable-ASCII error saying what happened
   * and the default backoff (or dead, as decided). Only messages the store can lock again still
   * pending with the attempts they were claimed with are recorded (`store.reclaim`): one that
   * another relay has claimed or recorded since is left to it. Throws when that fails too.
   */
  async #recordFallback(
    attempted: readonly OutboxMessage[],
    outcomes: readonly Outcome[],
    results: readonly SendResult[],
    recordError: unknown,
  ): Promise<RecordedBatch> {
    const { store, backoff, maxErrorLength } = this.options;
    if (typeof store.reclaim !== 'function') {
      throw new OutboxError('STORE_FAILED', 'the store has no reclaim() to record a fallback outcome with', {
        operation: 'reclaim',
      });
    }
    const why = plainText(describeError(recordError), 300);
    return store.transaction(async (tx) => {
      const held = new Set(await store.reclaim!(tx, attempted));
      const chosen: RecordedBatch = {
        messages: [],
        outcomes: [],
        results: [],
      };
      attempted.forEach((message, i) => {
        if (!held.has(message.id)) return;
        const outcome = outcomes[i]!;
        const result = results[i]!;
        let fallback: Outcome;
        if (outcome.status === 'sent') fallback = outcome;
        else {
          const said = 'error' in result ? plainText(describeError(result.error), 300) : '';
          const error = plainText(`outcome not recorded (${why}); sender: ${said}`, maxErrorLength);
          fallback =
            outcome.status === 'dead'
              ? { id: message.id, status: 'dead', error }
              : {
                  id: message.id,
                  status: 'retry',
                  error,
                  delayMs: backoffDelay(backoff, message.attempts + 1),
                };
        }
        chosen.messages.push(message);
        chosen.outcomes.push(fallback);
        chosen.results.push(result);
      });
      await store.complete(tx, chosen.outcomes);
      return chosen;
    });
  }

  // Events describe what the database now says, so they are emitted only after the commit.
  #report(
    batch: OutboxMessage[],
    outcomes: Outcome[],
    results: readonly SendResult[],
    durationMs: number,
  ): BatchReport {
    const report: BatchReport = { claimed: batch.length, sent: 0, retried: 0, dead: 0 };
    if (batch.length === 0) return report;
    const sentMessages: OutboxMessage[] = [];
    const wantRetry = this.#events.listenerCount('retry') > 0;
    const wantDead = this.#events.listenerCount('dead') > 0;
    outcomes.forEach((o, i) => {
      const message = batch[i]!;
      if (o.status === 'sent') {
        report.sent++;
        sentMessages.push(message);
      } else if (o.status === 'retry') {
        report.retried++;
        if (wantRetry) {
          const error = (results[i] as { error?: unknown }).error;
          this.#events.emit('retry', { message, error, delayMs: o.delayMs, attempts: message.attempts + 1 });
        }
      } else {
        report.dead++;
        if (wantDead) {
          const error = (results[i] as { error?: unknown }).error;
          this.#events.emit('dead', { message, error, attempts: message.attempts + 1 });
        }
      }
    });
    if (sentMessages.length > 0) this.#events.emit('sent', { messages: sentMessages });
    this.#events.emit('batch', {
      size: batch.length,
      sent: report.sent,
      retried: report.retried,
      dead: report.dead,
      durationMs,
    });
    return report;
  }

  stop(options: { timeoutMs?: number } = {}): Promise<void> {
    let timeoutMs: number;
    try {
      timeoutMs = positiveInt(options?.timeoutMs, 'timeoutMs', this.options.stopTimeoutMs, 0);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#stopping) return this.#stopping;
    if (this.#inFlight.size === 0 && this.#state !== 'running') {
      // Nothing to drain; `idle` becomes `stopped` so that a later runOnce() knows it was stopped.
      this.#loop.abort();
      this.#state = 'stopped';
      return Promise.resolve();
    }
    this.#stopping = this.#drain(timeoutMs).finally(() => {
      this.#stopping = undefined;
    });
    return this.#stopping;
  }

  async #drain(timeoutMs: number): Promise<void> {
    this.#state = 'stopping';
    this.#loop.abort();
    // Settled, never rejected: runOnce() callers get their own rejections.
    const all = Promise.allSettled([...this.#inFlight]);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), timeoutMs);
    });
    const outcome = await Promise.race([all.then(() => 'done' as const), deadline]);
    clearTimeout(timer);
    if (outcome === 'late') {
      // Past the deadline: cancel the sends still running. Their batches record a retry for
      // every message and commit, so nothing is left half-done.
      this.#hard.abort();
      await all;
    }
    this.#state = 'stopped';
    if (this.options.closeSender && this.options.sender.close) {
      try {
        await this.options.sender.close();
      } catch (error) {
        this.#error(error, 'sender.close');
      }
    }
  }

  runOnce(options: { maxBatches?: number; signal?: AbortSignal } = {}): Promise<RunSummary> {
    if (this.#state === 'stopping') {
      return Promise.reject(new OutboxError('RELAY_STATE', 'the relay is stopping; await stop() first'));
    }
    let maxBatches: number;
    try {
      maxBatches = positiveInt(options?.maxBatches, 'maxBatches', Number.MAX_SAFE_INTEGER);
      if (options?.signal !== undefined && !(options.signal instanceof AbortSignal)) {
        throw new OutboxError('INVALID_OPTION', 'signal must be an AbortSignal');
      }
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#state !== 'running') this.#renew();
    return this.#track(this.#runOnce(maxBatches, this.#loop.signal, options.signal));
  }

  async #runOnce(maxBatches: number, loop: AbortSignal, signal?: AbortSignal): Promise<RunSummary> {
    const summary: RunSummary = { batches: 0, sent: 0, retried: 0, dead: 0 };
    while (summary.batches < maxBatches && !signal?.aborted && !loop.aborted) {
      const report = await this.#batch(loop, signal);
      if (report.claimed === 0) break;
      summary.batches++;
      summary.sent += report.sent;
      summary.retried += report.retried;
      summary.dead += report.dead;
      if (report.claimed < this.options.batchSize && !this.#goOn(report)) break;
    }
    return summary;
  }
}

/**
 * Create a relay. Any number of relays, in any number of processes, may work on one table:
 * `FOR UPDATE SKIP LOCKED` gives each batch to exactly one of them.
 *
 * @example
 * ```ts
 * const relay = createRelay({ store, sender: rabbitmqSender({ url }), batchSize: 500 });
 * relay.on('dead', ({ message, error }) => log.warn({ id: message.id, error }, 'dead letter'));
 * await relay.start();
 * process.on('SIGTERM', () => relay.stop());
 * ```
 */
export function createRelay(options: RelayOptions): Relay {
  return new OutboxRelay(options);
}
