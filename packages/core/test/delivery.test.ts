import { afterEach, describe, expect, it } from 'vitest';
import { createOutbox, createRelay, isOutboxError, pgClient, postgres } from '../src/index.js';
import { waitFor } from '../src/testing/index.js';
import {
  createTestOutbox,
  gate,
  messages,
  observedStore,
  scriptedSender,
  type TestOutbox,
} from './helpers.js';

let db: TestOutbox | undefined;
afterEach(async () => {
  await db?.close();
  db = undefined;
});

describe('delivery', () => {
  it('a running relay delivers committed messages and never one whose transaction rolled back', async () => {
    db = await createTestOutbox();
    const store = observedStore(db.store);
    const sender = scriptedSender();
    const relay = createRelay({ store, sender, pollIntervalMs: 10 });
    await relay.start();
    try {
      // The relay looks (twice) while the row exists but is not committed, then it rolls back.
      const client = await db.pool.connect();
      try {
        await client.query('BEGIN');
        await store.add(pgClient(client), { topic: 'rolled-back', payload: { n: 0 } });
        const seen = store.claims;
        await waitFor(() => store.claims >= seen + 2, { message: 'two claims during the open transaction' });
        await client.query('ROLLBACK');
      } finally {
        client.release();
      }
      await db.add(messages(10, 'committed'));
      await expect(
        db.store.db.transaction(async (tx) => {
          await db!.store.add(tx, { topic: 'rolled-back', payload: { n: 1 } });
          throw new Error('business rule failed');
        }),
      ).rejects.toThrow('business rule failed');
      await db.add({ topic: 'committed', payload: { n: 10 } });
      await waitFor(() => sender.deliveries.length >= 11, { message: 'the committed messages' });
    } finally {
      await relay.stop();
    }
    expect(sender.deliveries.map((m) => m.topic)).toEqual(Array(11).fill('committed'));
    expect(new Set(sender.deliveries.map((m) => m.id)).size).toBe(11);
    const rows = await db.sql<{ topic: string; status: string }>('SELECT topic, status FROM $table');
    expect(rows).toHaveLength(11);
    expect(rows.every((r) => r.topic === 'committed' && r.status === 'sent')).toBe(true);
  });

  it('adds 1,000 messages in one INSERT statement (and 25,000 in three)', async () => {
    db = await createTestOutbox();
    const outbox = createOutbox({ dialect: postgres({ schema: db.schema }) });
    const client = await db.pool.connect();
    // Count what reaches the driver itself, not only what passes through troutbox's executor.
    const seen: string[] = [];
    const query = client.query.bind(client) as (text: string, values?: unknown[]) => Promise<unknown>;
    const counted = {
      query: (text: string, values?: unknown[]) => {
        seen.push(text.trim().split(/\s+/)[0]!.toUpperCase());
        return query(text, values) as Promise<{ rows: unknown[]; rowCount: number | null }>;
      },
    };
    try {
      await client.query('BEGIN');
      expect(await outbox.add(pgClient(counted), messages(1000))).toBe(1000);
      await client.query('COMMIT');
      expect(seen).toEqual(['INSERT']);

      seen.length = 0;
      await client.query('BEGIN');
      expect(await outbox.add(pgClient(counted), messages(25_000))).toBe(25_000);
      await client.query('COMMIT');
      // 10,000 rows (60,000 parameters) per statement: PostgreSQL allows 65,535.
      expect(seen).toEqual(['INSERT', 'INSERT', 'INSERT']);
    } finally {
      client.release();
    }
    const [count] = await db.sql<{ n: number }>('SELECT count(*)::int AS n FROM $table');
    expect(count!.n).toBe(26_000);
  });

  it('onAdd → relay.wake() delivers a commit that lands after the wake-up, long before the poll interval', async () => {
    db = await createTestOutbox();
    const store = observedStore(db.store);
    const sender = scriptedSender();
    const relay = createRelay({ store, sender, pollIntervalMs: 60_000 });
    const outbox = createOutbox({ dialect: postgres({ schema: db.schema }), onAdd: () => relay.wake() });
    await relay.start();
    try {
      // The first look finds nothing; the relay now sleeps for a minute unless woken.
      await waitFor(() => store.claims >= 1);
      const client = await db.pool.connect();
      try {
        await client.query('BEGIN');
        const before = store.claims;
        await outbox.add(pgClient(client), { topic: 'woken', payload: 1 });
        // onAdd runs before the commit: the relay looks at once and finds nothing yet.
        await waitFor(() => store.claims > before, { message: 'a claim after the wake-up' });
        await client.query('COMMIT');
      } finally {
        client.release();
      }
      const started = Date.now();
      await waitFor(() => sender.deliveries.length === 1, { timeoutMs: 10_000 });
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      await relay.stop();
    }
    expect(sender.deliveries[0]!.topic).toBe('woken');
  });

  it('stop() during runOnce() lets the batch finish, then runOnce returns and claims no more', async () => {
    db = await createTestOutbox();
    await db.add(messages(25));
    const held = gate();
    const called = gate();
    const sender = scriptedSender(async () => {
      called.open();
      await held.promise;
      return { status: 'sent' };
    });
    const relay = createRelay({ store: db.store, sender, batchSize: 10 });
    const run = relay.runOnce();
    await called.promise;
    let stopped = false;
    const stopping = relay.stop().then(() => {
      stopped = true;
    });
    expect(relay.state).toBe('stopping');
    await expect(relay.runOnce()).rejects.toSatisfy((e) => isOutboxError(e, 'RELAY_STATE'));
    expect(stopped).toBe(false);
    held.open();
    expect(await run).toEqual({ batches: 1, sent: 10, retried: 0, dead: 0 });
    await stopping;
    expect(relay.state).toBe('stopped');
    expect(sender.deliveries).toHaveLength(10);
    expect((await db.store.stats()).pending).toBe(15);
    // A stopped relay may run once again (a cron job's next tick).
    expect(await relay.runOnce()).toEqual({ batches: 2, sent: 15, retried: 0, dead: 0 });
  });

  it('stop() with a deadline aborts a runOnce() send that hangs and records the batch', async () => {
    db = await createTestOutbox();
    await db.add(messages(3));
    const called = gate();
    let aborted = false;
    const sender = scriptedSender(
      (_, { signal }) =>
        new Promise((_, reject) => {
          called.open();
          signal.addEventListener('abort', () => {
            aborted = true;
            reject(signal.reason);
          });
        }),
    );
    const relay = createRelay({ store: db.store, sender });
    const run = relay.runOnce();
    await called.promise;
    await relay.stop({ timeoutMs: 20 });
    expect(aborted).toBe(true);
    expect(await run).toEqual({ batches: 1, sent: 0, retried: 3, dead: 0 });
    const pending = await db.store.list({ status: 'pending' });
    expect(pending.map((m) => m.attempts)).toEqual([1, 1, 1]);
    expect(pending[0]!.lastError).toContain('relay stopped');
  });
});
