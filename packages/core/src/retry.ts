import { OutboxError } from './errors.js';

/** Exponential backoff with jitter, in milliseconds. */
export interface BackoffOptions {
  /** Delay before the first retry. @defaultValue 1000 */
  initialDelayMs: number;
  /** Growth per failed attempt. @defaultValue 2 */
  factor: number;
  /** Upper bound of a delay. @defaultValue 300000 (5 minutes) */
  maxDelayMs: number;
  /**
   * Fraction of the delay that is random: `0` none, `1` "full jitter". The default `0.5`
   * ("equal jitter") spreads retries of a failed batch apart while keeping each delay at least
   * as long as the largest possible previous one, so delays never shrink.
   * @defaultValue 0.5
   */
  jitter: number;
}

export const defaultBackoff: Readonly<BackoffOptions> = Object.freeze({
  initialDelayMs: 1000,
  factor: 2,
  maxDelayMs: 300_000,
  jitter: 0.5,
});

export function resolveBackoff(options: Partial<BackoffOptions> = {}): Readonly<BackoffOptions> {
  const b = { ...defaultBackoff, ...options };
  const check = (ok: boolean, name: string, value: unknown) => {
    if (!ok) throw new OutboxError('INVALID_OPTION', `backoff.${name} is out of range: ${String(value)}`);
  };
  check(Number.isFinite(b.initialDelayMs) && b.initialDelayMs >= 0, 'initialDelayMs', b.initialDelayMs);
  check(Number.isFinite(b.factor) && b.factor >= 1, 'factor', b.factor);
  check(Number.isFinite(b.maxDelayMs) && b.maxDelayMs >= b.initialDelayMs, 'maxDelayMs', b.maxDelayMs);
  check(Number.isFinite(b.jitter) && b.jitter >= 0 && b.jitter <= 1, 'jitter', b.jitter);
  return Object.freeze(b);
}

/**
 * The delay before retry number `attempt` (1 for the first retry).
 * @param random - a number in [0, 1); injectable for tests
 */
export function backoffDelay(
  backoff: Readonly<BackoffOptions>,
  attempt: number,
  random = Math.random(),
): number {
  const exp = Math.min(
    backoff.maxDelayMs,
    backoff.initialDelayMs * backoff.factor ** Math.max(0, attempt - 1),
  );
  return Math.round(exp * (1 - backoff.jitter) + exp * backoff.jitter * random);
}
