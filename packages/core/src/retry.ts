import { OutboxError } from './errors.js';
import { optionNames, rejectUnknownOptions } from './options.js';

/**
 * The longest delay troutbox stores: 100 years. Every supported column holds the database's
 * clock plus this (MariaDB's `DATETIME` ends with the year 9999, PostgreSQL's `timestamptz` in
 * 294276), and so does the arithmetic that adds it. A longer delay would make the database
 * refuse the whole batch's outcomes, and the batch would be sent again and again uncounted.
 *
 * @example
 * ```ts
 * createRelay({ store, sender, backoff: { maxDelayMs: MAX_DELAY_MS } }); // the longest allowed
 * ```
 */
export const MAX_DELAY_MS = 100 * 365 * 24 * 3600 * 1000;

/** Exponential backoff with jitter, in milliseconds. */
export interface BackoffOptions {
  /** Delay before the first retry. @defaultValue 1000 */
  initialDelayMs: number;
  /** Growth per failed attempt. @defaultValue 2 */
  factor: number;
  /**
   * Upper bound of every retry delay, a sender's `retryAfterMs` included; at most
   * {@link MAX_DELAY_MS}. @defaultValue 300000 (5 minutes)
   */
  maxDelayMs: number;
  /**
   * Fraction of the delay that is random: `0` none, `1` "full jitter". The default `0.5`
   * ("equal jitter") spreads retries of a failed batch apart while keeping each delay at least
   * as long as the largest possible previous one, so delays never shrink.
   * @defaultValue 0.5
   */
  jitter: number;
}

/** The default {@link BackoffOptions}: 1 s, doubling, at most 5 minutes, half of it random. */
export const defaultBackoff: Readonly<BackoffOptions> = Object.freeze({
  initialDelayMs: 1000,
  factor: 2,
  maxDelayMs: 300_000,
  jitter: 0.5,
});

/**
 * Apply the defaults to partial backoff options and check them.
 * @throws OutboxError `INVALID_OPTION`
 * @example
 * ```ts
 * const b = resolveBackoff({ initialDelayMs: 200 });
 * ```
 */
export function resolveBackoff(options: Partial<BackoffOptions> = {}): Readonly<BackoffOptions> {
  rejectUnknownOptions('backoff', options, optionNames.backoff);
  const b = { ...defaultBackoff, ...options };
  const check = (ok: boolean, name: string, value: unknown) => {
    if (!ok) throw new OutboxError('INVALID_OPTION', `backoff.${name} is out of range: ${String(value)}`);
  };
  check(Number.isFinite(b.initialDelayMs) && b.initialDelayMs >= 0, 'initialDelayMs', b.initialDelayMs);
  check(Number.isFinite(b.factor) && b.factor >= 1, 'factor', b.factor);
  check(
    Number.isFinite(b.maxDelayMs) && b.maxDelayMs >= b.initialDelayMs && b.maxDelayMs <= MAX_DELAY_MS,
    'maxDelayMs',
    b.maxDelayMs,
  );
  check(Number.isFinite(b.jitter) && b.jitter >= 0 && b.jitter <= 1, 'jitter', b.jitter);
  return Object.freeze(b);
}

/**
 * The delay before retry number `attempt` (1 for the first retry): `initialDelayMs ×
 * factor^(attempt − 1)`, of which the fraction `jitter` is random, capped at `maxDelayMs`.
 *
 * The cap is applied after the jitter, so with `(1 − jitter) × factor ≥ 1` (the defaults: 0.5 × 2)
 * a delay is never shorter than any possible previous one, even once the cap is reached.
 * Retries stay spread out at the cap, because each message's earlier delays were random.
 *
 * @param random - a number in [0, 1); injectable for tests
 * @example
 * ```ts
 * backoffDelay(defaultBackoff, 1); // 500…1000 ms
 * backoffDelay(defaultBackoff, 3); // 2000…4000 ms
 * ```
 */
export function backoffDelay(
  backoff: Readonly<BackoffOptions>,
  attempt: number,
  random = Math.random(),
): number {
  const { initialDelayMs, factor, maxDelayMs, jitter } = backoff;
  if (initialDelayMs === 0) return 0;
  const exp = initialDelayMs * factor ** Math.max(0, attempt - 1);
  // Past the cap even at the low end of the jitter: skip the arithmetic, which overflows
  // to Infinity (and Infinity × 0 = NaN) for large attempt numbers.
  if (!Number.isFinite(exp) || exp * (1 - jitter) >= maxDelayMs) return maxDelayMs;
  return Math.round(Math.min(maxDelayMs, exp * (1 - jitter) + exp * jitter * random));
}

/**
 * The delay before retry number `attempt`: the sender's `retryAfterMs` when it gave a usable one
 * (a finite number ≥ 0), else {@link backoffDelay}; never more than `maxDelayMs`, so a sender
 * cannot ask for a delay the database cannot store.
 *
 * @example
 * ```ts
 * retryDelay(defaultBackoff, 1, 2_000); // 2000: the sender's wish
 * retryDelay(defaultBackoff, 1, 1e16);  // 300000: capped at maxDelayMs
 * retryDelay(defaultBackoff, 1);        // 500…1000: the backoff
 * ```
 */
export function retryDelay(
  backoff: Readonly<BackoffOptions>,
  attempt: number,
  retryAfterMs?: number,
  random = Math.random(),
): number {
  const wanted =
    typeof retryAfterMs === 'number' && Number.isFinite(retryAfterMs) && retryAfterMs >= 0
      ? Math.round(retryAfterMs)
      : backoffDelay(backoff, attempt, random);
  return Math.min(wanted, backoff.maxDelayMs);
}

/**
 * A delay the database can store: rounded to a whole millisecond, within 0 and
 * {@link MAX_DELAY_MS} (`NaN` is 0). `store.complete` applies it to every retry it records,
 * whoever computed the delay.
 *
 * @example
 * ```ts
 * storableDelay(1e16); // MAX_DELAY_MS
 * storableDelay(-5);   // 0
 * ```
 */
export function storableDelay(ms: number): number {
  if (!(ms > 0)) return 0;
  return Math.min(Math.round(ms), MAX_DELAY_MS);
}
