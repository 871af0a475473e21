import { afterEach, describe, expect, it } from 'vitest';
import {
  type BatchEvent,
  createRelay,
  isOutboxError,
  MAX_DELAY_MS,
  type OutboxMessage,
  payloadJson,
  retry,
} from '../src/index.js';
import { waitFor } from '../src/testing/index.js';
import { createTestOutbox, databases, messages, scriptedSender, type TestOutbox } from './helpers.js';

let db: TestOutbox | undefined;
afterEach(async () => {
  await db?.close();
  db = undefined;
});

describe.each(databases)('retry and dead letters on $label', (database) => {
  it('delays grow with jitter, maxAttempts is respected, and dead carries the last error', async () => {
    db = await createTestOutbox(database, { prefix: 'retry' });
    const count = 12;
    const maxAttempts = 5;
    await db.add(messages(count));
    const sender = scriptedSender((m) => ({
      status: 'retry',
      error: new Error(`broker refused (attempt ${m.attempts + 1})`),
    }));
    const relay = createRelay({
      store: db.store,
      sender,
      maxAttempts,
      pollIntervalMs: 5,
      backoff: { initialDelayMs: 20, factor: 2, jitter: 0.5, maxDelayMs: 10_000 },
    });
    const delays = new Map<string, number[]>();
    const dead: { message: OutboxMessage; error: unknown; attempts: number }[] = [];
    relay.on('retry', ({ message, delayMs, attempts }) => {
      const list = delays.get(message.id) ?? [];
      expect(attempts).toBe(list.length + 1);
      delays.set(message.id, [...list, delayMs]);
    });
    relay.on('dead', (e) => dead.push(e));
    await relay.start();
    try {
      await waitFor(() => dead.length === count, { message: 'every message dead' });
    } finally {
      await relay.stop();
    }
    // Exactly maxAttempts deliveries each: maxAttempts − 1 retries, then dead.
    const perMessage = new Map<string, number>();
    for (const m of sender.deliveries) perMessage.set(m.id, (perMessage.get(m.id) ?? 0) + 1);
    expect([...perMessage.values()]).toEqual(Array(count).fill(maxAttempts));
    for (const list of delays.values()) {
      expect(list).toHaveLength(maxAttempts - 1);
      list.forEach((delay, i) => {
        const base = 20 * 2 ** i;
        expect(delay).toBeGreaterThanOrEqual(base / 2);
        expect(delay).toBeLessThanOrEqual(base);
        // Equal jitter with factor 2: never shorter than the previous delay.
        if (i > 0) expect(delay).toBeGreaterThanOrEqual(list[i - 1]!);
      });
    }
    // Jitter: messages of one batch do not all retry at the same moment.
    const firstDelays = new Set([...delays.values()].map((l) => l[0]));
    const lastDelays = new Set([...delays.values()].map((l) => l.at(-1)));
    expect(firstDelays.size).toBeGreaterThan(1);
    expect(lastDelays.size).toBeGreaterThan(1);

    expect(dead.every((d) => d.attempts === maxAttempts)).toBe(true);
    expect(dead.every((d) => String(d.error).includes(`attempt ${maxAttempts}`))).toBe(true);
    const letters = await db.store.deadLetters();
    expect(letters).toHaveLength(count);
    for (const d of letters) {
      expect(d).toMatchObject({
        status: 'dead',
        attempts: maxAttempts,
        lastError: `broker refused (attempt ${maxAttempts})`,
      });
    }
  });

  it('a retry moves available_at forward by the delay, counted from the failure', async () => {
    db = await createTestOutbox(database, { prefix: 'retry' });
    await db.add(messages(5));
    const relay = createRelay({
      store: db.store,
      sender: scriptedSender(() => ({ status: 'retry', error: 'try later' })),
      backoff: { initialDelayMs: 60_000 },
    });
    const delays = new Map<string, number>();
    relay.on('retry', ({ message, delayMs }) => delays.set(message.id, delayMs));
    const before = await db.now();
    expect(await relay.runOnce()).toMatchObject({ batches: 1, retried: 5 });
    const after = await db.now();
    for (const m of await db.store.list({ status: 'pending' })) {
      const delay = delays.get(m.id)!;
      expect(delay).toBeGreaterThanOrEqual(30_000);
      expect(delay).toBeLessThanOrEqual(60_000);
      // available_at − delay is the moment of the failure, inside this runOnce().
      const failedAt = m.availableAt.getTime() - delay;
      expect(failedAt).toBeGreaterThanOrEqual(before - 1);
      expect(failedAt).toBeLessThanOrEqual(after + 1);
    }
    // Not due: nothing more to claim.
    expect(await relay.runOnce()).toMatchObject({ batches: 0 });
  });

  it('a slow send does not eat into the retry delay (available_at counts from the failure, not the claim)', async () => {
    db = await createTestOutbox(database, { prefix: 'retry' });
    await db.add({ topic: 'slow', payload: 1 });
    let failedAfter = 0;
    const relay = createRelay({
      store: db.store,
      sender: scriptedSender(async () => {
        const claimedBy = await db!.now();
        // The broker takes 300 ms to say no, then asks for 200 ms.
        await waitFor(async () => (await db!.now()) >= claimedBy + 300, { intervalMs: 20 });
        failedAfter = await db!.now();
        return { status: 'retry', error: 'slow no', retryAfterMs: 200 };
      }),
    });
    await relay.runOnce();
    const [m] = await db.store.list({ status: 'pending' });
    expect(m!.attempts).toBe(1);
    expect(m!.availableAt.getTime()).toBeGreaterThanOrEqual(failedAfter + 200);
  });

  it('a retryAfterMs the database cannot store (1e15 ms, 1e16 ms, MAX_VALUE) is capped at backoff.maxDelayMs: the batch is recorded, sent messages stay sent, the attempt counts', async () => {
    db = await createTestOutbox(database, { prefix: 'retryafter' });
    // 1e15 ms from now is past MariaDB's year 9999; 1e16 ms is past PostgreSQL's timestamps too.
    const wishes = [undefined, 1e15, 1e16, Number.MAX_VALUE];
    await db.add(wishes.map((_, i) => ({ topic: 't', payload: i })));
    const maxDelayMs = 60_000;
    const relay = createRelay({
      store: db.store,
      sender: scriptedSender((m) => {
        const wish = wishes[payloadJson<number>(m)];
        return wish === undefined ? { status: 'sent' } : retry(new Error('come back later'), wish);
      }),
      backoff: { maxDelayMs },
    });
    const delays: number[] = [];
    relay.on('retry', ({ delayMs }) => delays.push(delayMs));
    const before = await db.now();
    expect(await relay.runOnce()).toEqual({ batches: 1, sent: 1, retried: 3, dead: 0 });
    const after = await db.now();
    expect(delays).toEqual([maxDelayMs, maxDelayMs, maxDelayMs]);
    expect(await db.store.stats()).toMatchObject({ sent: 1, pending: 3, due: 0 });
    for (const m of await db.store.list({ status: 'pending' })) {
      expect(m.attempts).toBe(1);
      expect(m.availableAt.getTime()).toBeGreaterThanOrEqual(before + maxDelayMs - 1);
      expect(m.availableAt.getTime()).toBeLessThanOrEqual(after + maxDelayMs + 1);
    }
    // Nothing is due: the sent message is not sent again.
    expect(await relay.runOnce()).toMatchObject({ batches: 0 });
  });

  it('store.markFailed keeps a delay within what the column holds (MAX_DELAY_MS), whoever computed it', async () => {
    db = await createTestOutbox(database, { prefix: 'storedelay' });
    await db.add([0, 1].map((i) => ({ topic: 't', payload: i })));
    const before = await db.now();
    await db.store.transaction(async (tx) => {
      const [a, b] = await db!.store.claim(tx, 10);
      await db!.store.markFailed(tx, [
        { id: a!.id, status: 'retry', error: 'far', delayMs: 1e16 },
        { id: b!.id, status: 'retry', error: 'negative', delayMs: -5 },
      ]);
    });
    const [far, negative] = await db.store.list({ status: 'pending' });
    expect(far!.availableAt.getTime()).toBeGreaterThanOrEqual(before + MAX_DELAY_MS - 1);
    expect(far!.availableAt.getTime()).toBeLessThan(before + MAX_DELAY_MS + 60_000);
    expect(negative!.availableAt.getTime()).toBeLessThanOrEqual((await db.now()) + 1);
  });

  it('requeueDead brings a dead message back and it is delivered', async () => {
    db = await createTestOutbox(database, { prefix: 'retry' });
    await db.add([
      { topic: 'bad', payload: 1 },
      { topic: 'good', payload: 2 },
    ]);
    let brokerFixed = false;
    const sender = scriptedSender((m) =>
      m.topic === 'bad' && !brokerFixed ? { status: 'dead', error: 'no route' } : { status: 'sent' },
    );
    const relay = createRelay({ store: db.store, sender, pollIntervalMs: 10 });
    await relay.start();
    try {
      const [letter] = await waitFor(async () => {
        const letters = await db!.store.deadLetters();
        return letters.length === 1 ? letters : null;
      });
      expect(letter).toMatchObject({ topic: 'bad', attempts: 1, lastError: 'no route', status: 'dead' });
      brokerFixed = true;
      expect(await db.store.requeueDead({ ids: [letter!.id] })).toBe(1);
      relay.wake();
      await waitFor(async () => (await db!.store.get(letter!.id))?.status === 'sent', {
        message: 'the requeued message to be delivered',
      });
      const again = sender.deliveries.filter((m) => m.id === letter!.id);
      expect(again.map((m) => m.attempts)).toEqual([0, 0]);
    } finally {
      await relay.stop();
    }
    expect(await db.store.stats()).toMatchObject({ pending: 0, dead: 0, sent: 2 });
  });

  it('a poison message goes dead without delaying the others', async () => {
    db = await createTestOutbox(database, { prefix: 'poison' });
    const batch = messages(49, 'good');
    batch.splice(20, 0, { topic: 'poison', key: 'k0', payload: { i: -1 } });
    await db.add(batch);
    const sender = scriptedSender((m) =>
      m.topic === 'poison' ? { status: 'retry', error: new Error('cannot parse') } : { status: 'sent' },
    );
    const relay = createRelay({
      store: db.store,
      sender,
      batchSize: 100,
      maxAttempts: 3,
      pollIntervalMs: 5,
      backoff: { initialDelayMs: 5, maxDelayMs: 20 },
    });
    const batches: BatchEvent[] = [];
    relay.on('batch', (b) => batches.push(b));
    await relay.start();
    try {
      // The good ones were sent in the poison's own batch, the first one.
      await waitFor(() => batches.length >= 1);
      expect(batches[0]).toMatchObject({ size: 50, sent: 49, retried: 1, dead: 0 });
      // More good messages, while the poison is still retrying: delivered as they come.
      await db.add(messages(10, 'later'));
      await waitFor(async () => (await db!.store.stats()).dead === 1, { message: 'the poison to go dead' });
      await waitFor(async () => (await db!.store.stats()).sent === 59);
    } finally {
      await relay.stop();
    }
    const [poison] = await db.store.deadLetters();
    expect(poison).toMatchObject({ topic: 'poison', attempts: 3, lastError: 'cannot parse' });
    expect(sender.deliveries.filter((m) => m.topic !== 'poison')).toHaveLength(59);
    expect(sender.deliveries.filter((m) => m.topic === 'poison')).toHaveLength(3);
  });

  it('a sender that never settles: every message of the batch gets one attempt and SEND_TIMEOUT', async () => {
    db = await createTestOutbox(database, { prefix: 'timeout' });
    await db.add(messages(7));
    const signals: AbortSignal[] = [];
    const relay = createRelay({
      store: db.store,
      sender: {
        send: (_, { signal }) => {
          signals.push(signal);
          return new Promise(() => {});
        },
      },
      sendTimeoutMs: 50,
      backoff: { initialDelayMs: 60_000 },
    });
    const retries: unknown[] = [];
    relay.on('retry', ({ error }) => retries.push(error));
    expect(await relay.runOnce()).toEqual({ batches: 1, sent: 0, retried: 7, dead: 0 });
    expect(signals).toHaveLength(1);
    expect(signals[0]!.aborted).toBe(true);
    expect(isOutboxError(signals[0]!.reason, 'SEND_TIMEOUT')).toBe(true);
    expect(retries.every((e) => isOutboxError(e, 'SEND_TIMEOUT'))).toBe(true);
    const pending = await db.store.list({ status: 'pending' });
    expect(pending).toHaveLength(7);
    for (const m of pending) {
      expect(m.attempts).toBe(1);
      expect(m.lastError).toContain('SEND_TIMEOUT');
    }
  });

  it('a sender that throws, or breaks its contract, costs each message one attempt and is never taken as sent', async () => {
    db = await createTestOutbox(database, { prefix: 'contract' });
    await db.add(messages(4));
    let call = 0;
    const relay = createRelay({
      store: db.store,
      sender: {
        send: async () => {
          call++;
          if (call === 1) throw new Error('connection reset');
          if (call === 2) return 'ok' as never;
          return [{ status: 'sent' }, { status: 'bogus' }] as never;
        },
      },
      backoff: { initialDelayMs: 0 },
      maxAttempts: 10,
    });
    expect(await relay.runOnce()).toMatchObject({ retried: 4 });
    expect(await relay.runOnce()).toMatchObject({ retried: 4 });
    expect(await relay.runOnce()).toMatchObject({ sent: 1, retried: 3 });
    const rows = await db.store.list({ status: 'pending' });
    expect(rows.map((r) => r.attempts)).toEqual([3, 3, 3]);
    expect(rows.every((r) => r.lastError?.includes('SENDER_CONTRACT'))).toBe(true);
    expect((await db.store.stats()).sent).toBe(1);
  });
  it('awkward error texts are recorded and the attempt counted, never failing the batch', async () => {
    // A completion the database refuses would send the batch again and again, uncounted.
    db = await createTestOutbox(database, { prefix: 'errtext' });
    const texts = [
      `it's "quoted" \\ back\\slash\nnew line\ttab 🐟 é`,
      // NUL, which PostgreSQL refuses in text, and a lone surrogate from a clip upstream.
      `nul\u0000inside and lone \uD83D surrogate`,
      // Clipped at 1,999 UTF-16 units: the cut falls inside the emoji's surrogate pair.
      `${'x'.repeat(1998)}🐟🐟`,
    ];
    const huge = '🐟'.repeat(20_000);
    await db.add([...texts, huge].map((_, i) => ({ topic: 't', payload: i })));
    const errorOf = (m: OutboxMessage) => [...texts, huge][Number(Buffer.from(m.payload).toString())]!;
    const run = (maxErrorLength?: number) =>
      createRelay({
        store: db!.store,
        sender: scriptedSender((m) => ({ status: 'dead', error: errorOf(m) })),
        batchSize: maxErrorLength ? 10 : 3,
        ...(maxErrorLength ? { maxErrorLength } : {}),
      }).runOnce({ maxBatches: 1 });
    // The first three with the default clip (2,000), the huge one with a clip far beyond it.
    expect(await run()).toMatchObject({ batches: 1, dead: 3 });
    expect(await run(100_000)).toMatchObject({ batches: 1, dead: 1 });
    const dead = await db.store.deadLetters();
    expect(dead.map((d) => d.attempts)).toEqual([1, 1, 1, 1]);
    expect(dead[0]!.lastError).toBe(texts[0]);
    expect(dead[1]!.lastError).toBe('nulinside and lone \uFFFD surrogate');
    expect(dead[2]!.lastError).toBe(`${'x'.repeat(1998)}\uFFFD…`);
    // Bounded where the column is (MySQL TEXT: 16,383 four-byte characters), whole otherwise.
    const kept = [...dead[3]!.lastError!];
    expect(kept.length).toBeGreaterThanOrEqual(16_383);
    expect(kept.every((c) => c === '🐟')).toBe(true);
  });
});
