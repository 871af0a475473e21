// No database here: message encoding and backoff arithmetic.
import { describe, expect, it } from 'vitest';
import {
  backoffDelay,
  defaultBackoff,
  defaultMessageLimits,
  encodeMessage,
  encodeMessages,
  isOutboxError,
  type NewMessage,
  payloadJson,
  payloadText,
  resolveBackoff,
} from '../src/index.js';

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    return isOutboxError(error) ? error.code : `not an OutboxError: ${String(error)}`;
  }
}

describe('encodeMessage', () => {
  it('encodes JSON values as UTF-8 JSON, with defaults for the optional fields', () => {
    const e = encodeMessage({ topic: 'orders', payload: { n: 1, s: 'héllo 🐟', list: [true, null] } });
    expect(e).toEqual({
      topic: 'orders',
      key: null,
      payload: e.payload,
      contentType: 'application/json',
      headers: '{}',
      availableAt: null,
    });
    expect(text(e.payload)).toBe('{"n":1,"s":"héllo 🐟","list":[true,null]}');
    for (const [payload, json] of [
      [null, 'null'],
      [0, '0'],
      [-1.5e-7, '-1.5e-7'],
      ['', '""'],
      [false, 'false'],
      [[], '[]'],
      [{}, '{}'],
    ] as const) {
      expect(text(encodeMessage({ topic: 't', payload }).payload)).toBe(json);
    }
  });

  it('keeps bytes as given (Uint8Array and Buffer), as application/octet-stream', () => {
    const bytes = new Uint8Array([0, 255, 10]);
    const e = encodeMessage({ topic: 't', payload: bytes });
    expect(e.payload).toBe(bytes);
    expect(e.contentType).toBe('application/octet-stream');
    const buffer = Buffer.from('raw');
    expect(encodeMessage({ topic: 't', payload: buffer }).payload).toBe(buffer);
    expect(encodeMessage({ topic: 't', payload: new Uint8Array(0) }).payload.byteLength).toBe(0);
  });

  it('accepts what JSON.stringify turns into JSON faithfully: Dates, toJSON, null-prototype objects', () => {
    const at = new Date('2026-01-02T03:04:05.000Z');
    expect(text(encodeMessage({ topic: 't', payload: { at } as never }).payload)).toBe(
      '{"at":"2026-01-02T03:04:05.000Z"}',
    );
    class Money {
      constructor(readonly cents: number) {}
      toJSON() {
        return { cents: this.cents };
      }
    }
    expect(text(encodeMessage({ topic: 't', payload: { price: new Money(5) } as never }).payload)).toBe(
      '{"price":{"cents":5}}',
    );
    const bare = Object.assign(Object.create(null), { a: 1 });
    expect(text(encodeMessage({ topic: 't', payload: bare }).payload)).toBe('{"a":1}');
    // The same object twice is not a cycle.
    const shared = { x: 1 };
    expect(text(encodeMessage({ topic: 't', payload: { a: shared, b: [shared] } }).payload)).toBe(
      '{"a":{"x":1},"b":[{"x":1}]}',
    );
  });

  it('rejects what JSON.stringify would silently change', () => {
    const cases: unknown[] = [
      { a: undefined },
      [1, undefined],
      // biome-ignore lint/suspicious/noSparseArray: a hole is what is being tested
      [1, , 3],
      { f() {} },
      { n: Number.NaN },
      { n: -Infinity },
      { big: 1n },
      { s: Symbol('x') },
      new Set([1]),
      { nested: { deeper: new Map() } },
      { bytes: Buffer.from('x') },
      { toJSON: () => undefined },
      { toJSON: () => 1n },
    ];
    for (const payload of cases) {
      expect(codeOf(() => encodeMessage({ topic: 't', payload } as NewMessage))).toBe(
        'UNSERIALIZABLE_PAYLOAD',
      );
    }
  });

  it('checks sizes at the limits, in bytes', () => {
    const limits = {
      ...defaultMessageLimits,
      maxPayloadBytes: 10,
      maxHeaderBytes: 8,
      maxTopicLength: 3,
      maxKeyLength: 2,
    };
    expect(codeOf(() => encodeMessage({ topic: 't', payload: '12345678' }, limits))).toBeUndefined(); // 10 bytes with quotes
    expect(codeOf(() => encodeMessage({ topic: 't', payload: '123456789' }, limits))).toBe(
      'PAYLOAD_TOO_LARGE',
    );
    // 'é' is two bytes: 4 of them plus quotes is 10 bytes, 5 are 12.
    expect(codeOf(() => encodeMessage({ topic: 't', payload: 'éééé' }, limits))).toBeUndefined();
    expect(codeOf(() => encodeMessage({ topic: 't', payload: 'ééééé' }, limits))).toBe('PAYLOAD_TOO_LARGE');
    expect(codeOf(() => encodeMessage({ topic: 't', payload: new Uint8Array(11) }, limits))).toBe(
      'PAYLOAD_TOO_LARGE',
    );
    expect(codeOf(() => encodeMessage({ topic: 'abc', key: 'ab', payload: 1 }, limits))).toBeUndefined();
    expect(codeOf(() => encodeMessage({ topic: 'abcd', payload: 1 }, limits))).toBe('INVALID_MESSAGE');
    expect(codeOf(() => encodeMessage({ topic: 't', key: 'abc', payload: 1 }, limits))).toBe(
      'INVALID_MESSAGE',
    );
    // Headers: name + value bytes. '€' is three bytes in UTF-8.
    expect(
      codeOf(() => encodeMessage({ topic: 't', payload: 1, headers: { h: '€€' } }, limits)),
    ).toBeUndefined();
    expect(codeOf(() => encodeMessage({ topic: 't', payload: 1, headers: { h: '€€€' } }, limits))).toBe(
      'INVALID_MESSAGE',
    );
    expect(codeOf(() => encodeMessage({ topic: 't', payload: 1, headers: { h: '🐟🐟' } }, limits))).toBe(
      'INVALID_MESSAGE',
    );
    expect(
      codeOf(() => encodeMessage({ topic: 't', payload: 1, headers: { h: '🐟' } }, limits)),
    ).toBeUndefined();
  });

  it('keeps key, headers and availableAt; null key and null availableAt mean none', () => {
    const at = new Date(Date.now() + 60_000);
    const e = encodeMessage({
      topic: 't',
      key: 'order-1',
      payload: 1,
      headers: { traceparent: '00-ab' },
      availableAt: at,
    });
    expect(e.key).toBe('order-1');
    expect(JSON.parse(e.headers)).toEqual({ traceparent: '00-ab' });
    expect(e.availableAt).toBe(at);
    const n = encodeMessage({ topic: 't', key: null, payload: 1, availableAt: null as never });
    expect(n.key).toBeNull();
    expect(n.availableAt).toBeNull();
  });

  it('names the failing field with its index in a list, and encodes a list in order', () => {
    try {
      encodeMessages([
        { topic: 'a', payload: 1 },
        { topic: 'b', payload: 1, headers: { ok: 'x', bad: 2 as never } },
      ]);
      expect.unreachable();
    } catch (error) {
      expect(isOutboxError(error, 'INVALID_MESSAGE')).toBe(true);
      expect((error as { context: { field: string } }).context.field).toBe('[1].headers.bad');
      expect(String(error)).toContain('[1].headers.bad');
    }
    expect(encodeMessages([]).length).toBe(0);
    expect(
      encodeMessages([
        { topic: 'x', payload: 1 },
        { topic: 'y', payload: 2 },
      ]).map((m) => m.topic),
    ).toEqual(['x', 'y']);
  });

  it('payloadJson and payloadText decode what was encoded', () => {
    const e = encodeMessage({ topic: 't', payload: { a: ['ü', 1] } });
    expect(payloadJson(e)).toEqual({ a: ['ü', 1] });
    expect(payloadText(e)).toBe('{"a":["ü",1]}');
  });
});

describe('backoffDelay', () => {
  it('grows by the factor, with the jitter fraction random', () => {
    const b = resolveBackoff({ initialDelayMs: 100, factor: 2, jitter: 0.5, maxDelayMs: 1_000_000 });
    expect(backoffDelay(b, 1, 0)).toBe(50);
    expect(backoffDelay(b, 1, 0.999999)).toBe(100);
    expect(backoffDelay(b, 2, 0)).toBe(100);
    expect(backoffDelay(b, 4, 0.5)).toBe(600);
    const none = resolveBackoff({ initialDelayMs: 100, factor: 3, jitter: 0 });
    expect([1, 2, 3].map((a) => backoffDelay(none, a, Math.random()))).toEqual([100, 300, 900]);
    const full = resolveBackoff({ initialDelayMs: 100, jitter: 1 });
    expect(backoffDelay(full, 1, 0)).toBe(0);
    expect(backoffDelay(full, 1, 0.5)).toBe(50);
  });

  it('defaults: 0.5–1 s first, then doubling, at most 5 minutes', () => {
    expect(backoffDelay(defaultBackoff, 1, 0)).toBe(500);
    expect(backoffDelay(defaultBackoff, 1, 0.9999)).toBe(1000);
    expect(backoffDelay(defaultBackoff, 3, 0)).toBe(2000);
    expect(backoffDelay(defaultBackoff, 30, 0)).toBe(300_000);
    expect(backoffDelay(defaultBackoff, 30, 0.9999)).toBe(300_000);
  });

  it('never shrinks from one attempt to the next, at the cap too', () => {
    for (const b of [
      defaultBackoff,
      resolveBackoff({ initialDelayMs: 1000, maxDelayMs: 5000 }),
      resolveBackoff({ initialDelayMs: 7, maxDelayMs: 1000, factor: 2.5, jitter: 0.3 }),
    ]) {
      for (let attempt = 1; attempt < 60; attempt++) {
        const longestNow = backoffDelay(b, attempt, 0.999999);
        const shortestNext = backoffDelay(b, attempt + 1, 0);
        expect(shortestNext, `attempt ${attempt}`).toBeGreaterThanOrEqual(longestNow);
        expect(longestNow).toBeLessThanOrEqual(b.maxDelayMs);
      }
    }
  });

  it('stays a finite number for any attempt and for a zero initial delay', () => {
    for (const jitter of [0, 0.5, 1]) {
      const b = resolveBackoff({ jitter });
      for (const attempt of [0, 1, 1024, 1e6, Number.MAX_SAFE_INTEGER]) {
        const d = backoffDelay(b, attempt, 0.5);
        expect(Number.isFinite(d)).toBe(true);
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThanOrEqual(b.maxDelayMs);
      }
    }
    expect(backoffDelay(resolveBackoff({ initialDelayMs: 0 }), 5000, 0.5)).toBe(0);
  });

  it('spreads the delays of one attempt across messages', () => {
    const delays = new Set(Array.from({ length: 50 }, () => backoffDelay(defaultBackoff, 2)));
    expect(delays.size).toBeGreaterThan(10);
    for (const d of delays) {
      expect(d).toBeGreaterThanOrEqual(1000);
      expect(d).toBeLessThanOrEqual(2000);
    }
  });

  it('resolveBackoff rejects values out of range', () => {
    for (const bad of [
      { initialDelayMs: -1 },
      { initialDelayMs: Number.NaN },
      { factor: 0.9 },
      { jitter: -0.1 },
      { jitter: 1.1 },
      { maxDelayMs: 10 },
      { maxDelayMs: Infinity },
    ]) {
      expect(codeOf(() => resolveBackoff(bad))).toBe('INVALID_OPTION');
    }
    expect(Object.isFrozen(resolveBackoff())).toBe(true);
  });
});
