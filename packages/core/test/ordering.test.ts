import { afterEach, describe, expect, it } from 'vitest';
import {
  createRelay,
  type OutboxMessage,
  payloadJson,
  retry,
  type Sender,
  type SendResult,
  sent,
} from '../src/index.js';
import { waitFor } from '../src/testing/index.js';
import {
  createTestOutbox,
  databases,
  gate,
  scriptedSender,
  type TestOutbox,
  withinDeadline,
} from './helpers.js';

// Per-key ordering (`ordering: 'key'`): a key's messages reach the sender in the order their
// transactions committed, one at a time across every relay, and a failing message holds back
// only its own key.

let db: TestOutbox | undefined;
afterEach(async () => {
  await db?.close();
  db = undefined;
});

const decoder = new TextDecoder();
const uidOf = (m: OutboxMessage) => payloadJson<{ u: number }>(m).u;

/** Errors a producer retries: a deadlock (InnoDB may pick an inserting transaction as its victim). */
function retryable(error: unknown): boolean {
  const e = error as { code?: string; errno?: number };
  return e?.code === '40P01' || e?.errno === 1213 || e?.errno === 1205;
}

describe.each(databases)('ordering on $label', (database) => {
  it('3 relays, 200 keys, 20,000 messages from concurrent transactions, random send failures: each key in commit order, nothing lost', async () => {
    db = await createTestOutbox(database, { prefix: 'ord', dialect: { ordering: 'key' } });
    if (database.name === 'postgres') {
      // Each session takes ids in blocks of 20: a transaction that commits later often holds a
      // lower id than one of the same key that committed before it. Order by id would fail.
      await db.sql('ALTER TABLE $table ALTER COLUMN id SET CACHE 20');
    }
    const KEYS = 200;
    const TOTAL = 20_000;
    const PRODUCERS = 12;

    // Commit order, recorded on the producer side: a transaction's add() holds its keys' counter
    // rows locked until it commits, so a same-key transaction's add() cannot return before this
    // one has committed. The order in which add() returns per key is their commit order.
    const committed = new Map<string, number[]>();
    const keyOf = new Map<number, string | null>();
    let nextUid = 0;
    const producers = db.newStore({ connections: PRODUCERS }).pool;
    const produce = async () => {
      while (nextUid < TOTAL) {
        const size = Math.min(1 + Math.floor(Math.random() * 4), TOTAL - nextUid);
        const batch = Array.from({ length: size }, () => {
          const u = nextUid++;
          // One message in ten has no key: it is claimed and sent with full parallelism.
          const key = Math.random() < 0.1 ? null : `k${Math.floor(Math.random() * KEYS)}`;
          keyOf.set(u, key);
          return { topic: 'orders', ...(key === null ? {} : { key }), payload: { u } };
        });
        for (;;) {
          const tx = await producers.begin();
          try {
            await db!.store.add(tx.executor, batch);
          } catch (error) {
            await tx.rollback().catch(() => {});
            if (retryable(error)) continue;
            throw error;
          }
          for (const m of batch) {
            if (m.key === undefined) continue;
            let list = committed.get(m.key);
            if (!list) {
              list = [];
              committed.set(m.key, list);
            }
            list.push(m.payload.u);
          }
          await tx.commit();
          break;
        }
      }
    };

    // Every attempt in call order, and a check that no key is in two send calls at once.
    const attempts: { u: number; key: string | null; status: SendResult['status'] }[] = [];
    const sending = new Map<string, number>();
    let overlaps = 0;
    const sender: Sender = {
      async send(messages) {
        for (const m of messages) {
          if (m.key === null) continue;
          if ((sending.get(m.key) ?? 0) > 0) overlaps++;
          sending.set(m.key, (sending.get(m.key) ?? 0) + 1);
        }
        // Yield, so that other relays' sends can interleave with this one.
        await new Promise((r) => setImmediate(r));
        const results = messages.map((m): SendResult => {
          const result = Math.random() < 0.03 ? retry(new Error('broker hiccup'), 0) : sent();
          attempts.push({ u: uidOf(m), key: m.key, status: result.status });
          return result;
        });
        for (const m of messages) if (m.key !== null) sending.set(m.key, sending.get(m.key)! - 1);
        return results;
      },
    };
    // After every claim, in its transaction (a fresh snapshot at READ COMMITTED): no claimed
    // message may have a pending message of its key with a lower seq outside the batch.
    const outOfTurn: unknown[] = [];
    const t = db.dialect.tableName;
    const lowerPending =
      database.name === 'postgres'
        ? `SELECT o.id::text AS id FROM ${t} AS o JOIN ${t} AS p ON p.key = o.key AND p.seq < o.seq AND p.status = 'pending'
WHERE o.id = ANY($1::bigint[]) AND NOT (p.id = ANY($1::bigint[]))`
        : `SELECT CAST(o.id AS CHAR) AS id FROM ${t} AS o JOIN ${t} AS p ON p.\`key\` = o.\`key\` AND p.seq < o.seq AND p.status = 'pending'
WHERE o.id IN (?) AND p.id NOT IN (?)`;
    const relays = [0, 1, 2].map(() => {
      const store = db!.newStore({ connections: 3 }).store;
      const claim = store.claim.bind(store);
      store.claim = async (tx, limit) => {
        const batch = await claim(tx, limit);
        if (batch.length > 0) {
          const ids = batch.map((m) => m.id);
          const { rows } = await tx.query(lowerPending, database.name === 'postgres' ? [ids] : [ids, ids]);
          outOfTurn.push(...rows);
        }
        return batch;
      };
      return createRelay({
        store,
        sender,
        batchSize: 100,
        concurrency: 2,
        pollIntervalMs: 20,
        maxAttempts: 1000,
      });
    });
    const errors: unknown[] = [];
    for (const r of relays) r.on('error', ({ error }) => errors.push(error));
    await Promise.all(relays.map((r) => r.start()));
    try {
      await Promise.all(Array.from({ length: PRODUCERS }, produce));
      await waitFor(async () => (await db!.store.stats()).sent === TOTAL, {
        timeoutMs: 120_000,
        message: 'all 20,000 messages sent',
      });
    } finally {
      await Promise.all(relays.map((r) => r.stop()));
    }
    expect(errors).toEqual([]);
    expect(outOfTurn).toEqual([]);
    expect(overlaps).toBe(0);
    if (database.name === 'postgres') {
      // The ids really were allocated out of commit order for some key.
      const rows = await db.sql<{ id: string; key: string; seq: string }>(
        'SELECT id::text AS id, key, seq::text AS seq FROM $table WHERE key IS NOT NULL ORDER BY key, seq',
      );
      let inverted = 0;
      for (let i = 1; i < rows.length; i++) {
        const [a, b] = [rows[i - 1]!, rows[i]!];
        if (a.key === b.key && BigInt(a.id) > BigInt(b.id)) inverted++;
      }
      expect(inverted).toBeGreaterThan(0);
    }
    // Per key: each attempt is of the next message not yet sent, in commit order; a retry
    // attempts the same message again; nothing of the key is attempted before its predecessor
    // was sent.
    const position = new Map<string, number>();
    for (const a of attempts) {
      if (a.key === null) continue;
      const order = committed.get(a.key)!;
      const at = position.get(a.key) ?? 0;
      expect(a.u, `key ${a.key}: attempt of ${a.u}, expected ${order[at]}`).toBe(order[at]);
      if (a.status === 'sent') position.set(a.key, at + 1);
    }
    for (const [key, order] of committed) expect(position.get(key) ?? 0, key).toBe(order.length);
    // Nothing lost, nothing sent twice.
    const sentUids = attempts.filter((a) => a.status === 'sent').map((a) => a.u);
    expect(sentUids).toHaveLength(TOTAL);
    expect(new Set(sentUids).size).toBe(TOTAL);
    expect(attempts.some((a) => a.status === 'retry')).toBe(true);
    expect([...keyOf.values()].filter((k) => k === null).length).toBeGreaterThan(0);
  }, 180_000);

  it('a message that keeps failing holds back only its own key, until it is dead; then the key moves on', async () => {
    db = await createTestOutbox(database, { prefix: 'ordpoison', dialect: { ordering: 'key' } });
    await db.add([
      { topic: 't', key: 'poison', payload: { u: 1 } },
      { topic: 't', key: 'poison', payload: { u: 2 } },
      { topic: 't', key: 'poison', payload: { u: 3 } },
      ...Array.from({ length: 40 }, (_, i) => ({ topic: 't', key: `ok${i % 8}`, payload: { u: 100 + i } })),
    ]);
    const giveUp = gate();
    let poisonAttempts = 0;
    const sender = scriptedSender((m) => {
      if (uidOf(m) !== 1) return sent();
      poisonAttempts++;
      return giveUp.opened ? { status: 'dead', error: 'unroutable' } : retry(new Error('refused'), 10);
    });
    const relay = createRelay({
      store: db.store,
      sender,
      batchSize: 10,
      pollIntervalMs: 10,
      maxAttempts: 1000,
    });
    await relay.start();
    try {
      // Every other key flows while the poison message is retried again and again.
      await waitFor(
        () => sender.deliveries.filter((m) => uidOf(m) >= 100).length === 40 && poisonAttempts >= 3,
        {
          message: 'the other keys delivered while the poison message retries',
        },
      );
      expect(sender.deliveries.filter((m) => m.key === 'poison').map(uidOf)).toEqual(
        Array(poisonAttempts).fill(1),
      );
      expect((await db.store.list({ status: 'pending', topic: 't' })).map((m) => payloadJson(m))).toEqual([
        { u: 1 },
        { u: 2 },
        { u: 3 },
      ]);
      giveUp.open();
      await waitFor(() => sender.deliveries.filter((m) => m.key === 'poison' && uidOf(m) > 1).length === 2, {
        message: 'the rest of the poison key after its first message went dead',
      });
    } finally {
      await relay.stop();
    }
    const poison = sender.deliveries.filter((m) => m.key === 'poison').map(uidOf);
    expect(poison.slice(-2)).toEqual([2, 3]);
    expect(poison.slice(0, -2).every((u) => u === 1)).toBe(true);
    const [dead] = await db.store.deadLetters();
    expect(payloadJson(dead!)).toEqual({ u: 1 });
    expect((await db.store.stats()).pending).toBe(0);
  });

  it('a hot key moves a run of messages per claim, in waves, while other keys flow beside it', async () => {
    db = await createTestOutbox(database, { prefix: 'ordhot', dialect: { ordering: 'key' } });
    await db.add(Array.from({ length: 300 }, (_, i) => ({ topic: 'hot', key: 'hot', payload: { u: i } })));

    // Relay A holds the hot key's first batch in a slow send.
    const inSend = gate();
    const release = gate();
    const calls: OutboxMessage[][] = [];
    const a = createRelay({
      store: db.newStore({ connections: 1 }).store,
      batchSize: 100,
      sender: {
        async send(messages) {
          calls.push([...messages]);
          inSend.open();
          await release.promise;
          return messages.map(() => sent());
        },
      },
    });
    const holding = a.runOnce({ maxBatches: 1 });
    await inSend.promise;
    await db.add(
      Array.from({ length: 30 }, (_, i) => ({ topic: 'cold', key: `c${i}`, payload: { u: 1000 + i } })),
    );
    // Relay B meanwhile gets the cold keys (and none of the hot one).
    const bSender = scriptedSender();
    const b = createRelay({ store: db.newStore({ connections: 1 }).store, batchSize: 100, sender: bSender });
    try {
      const report = await withinDeadline(b.runOnce(), 10_000, "relay B's claims");
      expect(report.sent).toBe(30);
      expect(bSender.deliveries.every((m) => m.topic === 'cold')).toBe(true);
    } finally {
      release.open();
    }
    const first = await holding;
    // One claim took the hot key's first 100 messages (its head and the run after it)…
    expect(first).toMatchObject({ batches: 1, sent: 100 });
    // …sent one wave at a time, in order: never two messages of one key in one send call.
    expect(calls.map((c) => c.length)).toEqual(Array(100).fill(1));
    expect(calls.flat().map(uidOf)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(await a.runOnce()).toMatchObject({ batches: 2, sent: 200 });
    expect(calls.flat().map(uidOf)).toEqual(Array.from({ length: 300 }, (_, i) => i));
  });

  it('a failure in a wave leaves the rest of its key unattempted (no attempt counted); other keys go on', async () => {
    db = await createTestOutbox(database, { prefix: 'ordwave', dialect: { ordering: 'key' } });
    await db.add([
      ...Array.from({ length: 4 }, (_, i) => ({ topic: 't', key: 'a', payload: { u: i } })),
      ...Array.from({ length: 4 }, (_, i) => ({ topic: 't', key: 'b', payload: { u: 10 + i } })),
    ]);
    const sender = scriptedSender((m) => (uidOf(m) === 1 ? retry(new Error('no'), 60_000) : sent()));
    const relay = createRelay({ store: db.store, sender, batchSize: 100 });
    expect(await relay.runOnce({ maxBatches: 1 })).toEqual({ batches: 1, sent: 5, retried: 1, dead: 0 });
    expect(sender.deliveries.map(uidOf)).toEqual([0, 10, 1, 11, 12, 13]);
    const pending = await db.store.list({ status: 'pending' });
    expect(pending.map((m) => [payloadJson<{ u: number }>(m).u, m.attempts])).toEqual([
      [1, 1],
      [2, 0],
      [3, 0],
    ]);
    // Held back: its first pending message is not due, so the key waits.
    expect(await relay.runOnce()).toEqual({ batches: 0, sent: 0, retried: 0, dead: 0 });
  });

  it.each(['none', 'key'] as const)(
    'scheduled messages are not sent early, and are sent once due (ordering %s)',
    async (ordering) => {
      db = await createTestOutbox(database, { prefix: 'sched', dialect: { ordering } });
      const now = await db.now();
      await db.add([
        { topic: 'far', key: 'far', payload: { u: 1 }, availableAt: new Date(now + 3_600_000) },
        // Same key, due now: with ordering it waits behind the scheduled one before it.
        { topic: 'far', key: 'far', payload: { u: 2 } },
        { topic: 'soon', key: 'soon', payload: { u: 3 }, availableAt: new Date(now + 700) },
        { topic: 'soon', key: 'soon', payload: { u: 4 } },
        // Without a key (on an ordered table: claimed beside the keys, from their own index).
        { topic: 'loose', payload: { u: 5 }, availableAt: new Date(now + 700) },
        { topic: 'loose', payload: { u: 6 }, availableAt: new Date(now + 3_600_000) },
      ]);
      const sentAt = new Map<number, number>();
      const sender = scriptedSender(async (m) => {
        sentAt.set(uidOf(m), await db!.now());
        return sent();
      });
      const relay = createRelay({ store: db.store, sender, pollIntervalMs: 20 });
      await relay.start();
      try {
        await waitFor(() => sentAt.has(3) && sentAt.has(4) && sentAt.has(5), {
          message: 'the messages due shortly',
        });
      } finally {
        await relay.stop();
      }
      expect(sentAt.get(3)).toBeGreaterThanOrEqual(now + 700);
      expect(sentAt.get(5)).toBeGreaterThanOrEqual(now + 700);
      expect(sentAt.has(1)).toBe(false);
      expect(sentAt.has(6)).toBe(false);
      if (ordering === 'key') {
        // Commit order within a key: u4 after u3, so not before u3 was due; u2 waits behind u1.
        expect(sender.deliveries.filter((m) => m.key !== null).map(uidOf)).toEqual([3, 4]);
        expect(sentAt.get(4)).toBeGreaterThanOrEqual(now + 700);
        expect(sentAt.has(2)).toBe(false);
      } else {
        expect(sender.deliveries.map(uidOf).sort()).toEqual([2, 3, 4, 5]);
      }
      const pending = await db.store.list({ status: 'pending' });
      expect(pending.map((m) => payloadJson<{ u: number }>(m).u)).toEqual(
        ordering === 'key' ? [1, 2, 6] : [1, 6],
      );
      expect(decoder.decode(pending[0]!.payload)).toContain('"u":1');
    },
  );
});

describe.each(databases.filter((d) => d.name === 'postgres'))(
  'ordering by commit, not id, on $label',
  (database) => {
    it('a transaction that took the lower id but committed later is delivered after the earlier commit', async () => {
      db = await createTestOutbox(database, { prefix: 'ordids', dialect: { ordering: 'key' } });
      await db.sql('ALTER TABLE $table ALTER COLUMN id SET CACHE 10');
      const pool = db.newStore({ connections: 2 }).pool;
      // Two sessions, each with its own block of cached ids: `low` took the lower block.
      const low = await pool.begin();
      const high = await pool.begin();
      await db.store.add(low.executor, { topic: 'warm', payload: { u: -1 } });
      await db.store.add(high.executor, { topic: 'warm', payload: { u: -2 } });
      // `high` writes the key's message and commits first; `low` writes its own after that.
      await db.store.add(high.executor, { topic: 't', key: 'k', payload: { u: 1 } });
      await high.commit();
      await db.store.add(low.executor, { topic: 't', key: 'k', payload: { u: 2 } });
      await low.commit();
      const rows = await db.sql<{ id: string; u: number }>(
        "SELECT o.id::text AS id, convert_from(o.payload, 'UTF8')::jsonb->>'u' AS u FROM $table AS o WHERE o.key = 'k' ORDER BY o.id",
      );
      // Precondition: the id order is the reverse of the commit order.
      expect(
        rows.map((r) => Number(r.u)),
        JSON.stringify(rows),
      ).toEqual([2, 1]);
      const sender = scriptedSender();
      await createRelay({ store: db.store, sender, batchSize: 10 }).runOnce();
      expect(sender.deliveries.filter((m) => m.key === 'k').map(uidOf)).toEqual([1, 2]);
    });
  },
);
