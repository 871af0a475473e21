// No database here: every retry delay the relay computes is one the database can store.
import { describe, expect, it } from 'vitest';
import { isOutboxError, MAX_DELAY_MS, resolveBackoff, retryDelay, storableDelay } from '../src/index.js';

describe('retry delays are bounded', () => {
  it("a sender's retryAfterMs is honoured up to maxDelayMs; an unusable one falls back to the backoff", () => {
    const b = resolveBackoff({ initialDelayMs: 100, factor: 2, jitter: 0, maxDelayMs: 10_000 });
    expect(retryDelay(b, 1, 2_000)).toBe(2_000);
    expect(retryDelay(b, 1, 2_000.4)).toBe(2_000);
    for (const huge of [10_001, 1e15, 1e16, Number.MAX_VALUE]) expect(retryDelay(b, 1, huge)).toBe(10_000);
    for (const unusable of [undefined, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(retryDelay(b, 3, unusable)).toBe(400);
    }
  });

  it('maxDelayMs above MAX_DELAY_MS (what every supported column can hold) is an INVALID_OPTION', () => {
    expect(resolveBackoff({ maxDelayMs: MAX_DELAY_MS }).maxDelayMs).toBe(MAX_DELAY_MS);
    for (const maxDelayMs of [MAX_DELAY_MS + 1, 1e16]) {
      let error: unknown;
      try {
        resolveBackoff({ maxDelayMs });
      } catch (e) {
        error = e;
      }
      expect(isOutboxError(error, 'INVALID_OPTION'), String(error)).toBe(true);
    }
  });

  it('storableDelay keeps any number within 0 and MAX_DELAY_MS, in whole milliseconds', () => {
    expect([1e16, Number.POSITIVE_INFINITY, -5, Number.NaN, 12.6].map(storableDelay)).toEqual([
      MAX_DELAY_MS,
      MAX_DELAY_MS,
      0,
      0,
      13,
    ]);
  });
});
