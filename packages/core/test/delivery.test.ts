import { afterEach, describe, expect, it } from 'vitest';
import { createOutbox, createRelay, isOutboxError } from '../src/index.js';
import { waitFor } from '../src/testing/index.js';
import {
  createTestOutbox,
  databases,
  gate,
  messages,
  observedStore,
  scriptedSender,
  type TestOutbox,
  withinDeadline,
} from './helpers.js';

let db: TestOutbox | undefined;
afterEach(async () => {
  await db?.close();
  db = undefined;
});

describe.each(databases)('delivery on $label', (database) => {
  it('a running relay delivers committed messages and never one whose transaction rolled back', async () => {
    db = await createTestOutbox(database);
    const store = observedStore(db.store);
    const sender = scriptedSender();
    const relay = createRelay({ store, sender, pollIntervalMs: 10 });
    await relay.start();
    try {
      // The relay looks (twice) while the row exists but is not committed, then it rolls back.
      const tx = await db.pool.begin();
      await store.add(tx.executor, { topic: 'rolled-back', payload: { n: 0 } });
      const seen = store.claims;
      await waitFor(() => store.claims >= seen + 2, { message: 'two claims during the open transaction' });
      await tx.rollback();
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

  it('a claim that loses a deadlock is run again at once, not reported; four in a row are an error', async () => {
    db = await createTestOutbox(database, { prefix: 'conflict' });
    await db.add(messages(3));
    // What the driver throws for a deadlock victim (the database has rolled the claim back).
    const deadlock = () =>
      Object.assign(
        new Error('deadlock detected'),
        database.name === 'postgres' ? { code: '40P01' } : { errno: 1213 },
      );
    const store = db.store;
    const claim = store.claim.bind(store);
    let losses = 2;
    let claims = 0;
    store.claim = async (tx, limit) => {
      claims++;
      if (losses > 0) {
        losses--;
        throw deadlock();
      }
      return claim(tx, limit);
    };
    const sender = scriptedSender();
    const relay = createRelay({ store, sender, batchSize: 10, errorDelayMs: 60_000 });
    const errors: unknown[] = [];
    relay.on('error', ({ error }) => errors.push(error));
    expect(await withinDeadline(relay.runOnce(), 10_000, 'runOnce')).toMatchObject({ batches: 1, sent: 3 });
    expect(claims).toBe(3);
    expect(errors).toEqual([]);

    losses = Number.POSITIVE_INFINITY;
    claims = 0;
    await db.add(messages(1));
    await expect(relay.runOnce()).rejects.toThrow('deadlock detected');
    expect(claims).toBe(4);
    expect(await db.count("status = 'pending'")).toBe(1);
  });

  it('adds 1,000 messages in one INSERT statement, and 25,000 in as few as the dialect allows', async () => {
    db = await createTestOutbox(database);
    const outbox = createOutbox({ dialect: db.dialect });
    // Count what reaches the driver itself, not only what passes through troutbox's executor.
    const seen: string[] = [];
    const observe = (sql: string) => seen.push(sql.trim().split(/\s+/)[0]!.toUpperCase());
    let tx = await db.pool.begin(observe);
    expect(await outbox.add(tx.executor, messages(1000))).toBe(1000);
    await tx.commit();
    expect(seen).toEqual(['INSERT']);

    seen.length = 0;
    tx = await db.pool.begin(observe);
    expect(await outbox.add(tx.executor, messages(25_000))).toBe(25_000);
    await tx.commit();
    // PostgreSQL: 10,000 rows (60,000 parameters) per statement, under its 65,535. MySQL: 1,000
    // rows, well inside max_allowed_packet. The INSERTs of one add run under a savepoint, so a
    // failure part-way leaves none of them.
    const perStatement = db.dialect.maxRowsPerInsert;
    expect(perStatement).toBeGreaterThanOrEqual(1000);
    expect(seen).toEqual(['SAVEPOINT', ...Array(Math.ceil(25_000 / perStatement)).fill('INSERT'), 'RELEASE']);
    expect(await db.count()).toBe(26_000);
  });

  it('onAdd → relay.wake() delivers a commit that lands after the wake-up, long before the poll interval', async () => {
    db = await createTestOutbox(database);
    const store = observedStore(db.store);
    const sender = scriptedSender();
    const relay = createRelay({ store, sender, pollIntervalMs: 60_000 });
    const outbox = createOutbox({ dialect: db.dialect, onAdd: () => relay.wake() });
    await relay.start();
    try {
      // The first look finds nothing; the relay now sleeps for a minute unless woken.
      await waitFor(() => store.claims >= 1);
      const tx = await db.pool.begin();
      const before = store.claims;
      await outbox.add(tx.executor, { topic: 'woken', payload: 1 });
      // onAdd runs before the commit: the relay looks at once and finds nothing yet.
      await waitFor(() => store.claims > before, { message: 'a claim after the wake-up' });
      await tx.commit();
      const started = Date.now();
      await waitFor(() => sender.deliveries.length === 1, { timeoutMs: 10_000 });
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      await relay.stop();
    }
    expect(sender.deliveries[0]!.topic).toBe('woken');
  });

  it('stop() during runOnce() lets the batch finish, then runOnce returns and claims no more', async () => {
    db = await createTestOutbox(database);
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
    db = await createTestOutbox(database);
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
  it('a scheduled message is not claimed before availableAt, whatever the session and driver time zones', async () => {
    // Both the driver and the session think in +05:00; stored times must not move by five hours.
    db = await createTestOutbox(database, { pool: { timeZone: '+05:00' } });
    const now = await db.now();
    const due = new Date(now - 60 * 60_000);
    const far = new Date(now + 60 * 60_000);
    await db.add([
      { topic: 'due', payload: 1, availableAt: due },
      { topic: 'far', payload: 2, availableAt: far },
    ]);
    const stored = await db.store.list({ status: 'pending' });
    expect(stored.map((m) => m.availableAt.toISOString())).toEqual([due.toISOString(), far.toISOString()]);
    for (const m of stored) expect(Math.abs(m.createdAt.getTime() - now)).toBeLessThan(10 * 60_000);

    // A shift of the stored times either way would make this claim take both, or neither.
    const first = await db.store.transaction(async (tx) => {
      const batch = await db!.store.claim(tx, 10);
      await db!.store.markSent(
        tx,
        batch.map((m) => m.id),
      );
      return batch;
    });
    expect(first.map((m) => m.topic)).toEqual(['due']);

    // A message due shortly is claimed by a running relay, not before its time by the database clock.
    const soon = new Date((await db.now()) + 500);
    await db.add({ topic: 'soon', payload: 3, availableAt: soon });
    const claimedAt: number[] = [];
    const sender = scriptedSender(async () => {
      claimedAt.push(await db!.now());
      return { status: 'sent' };
    });
    const relay = createRelay({ store: db.store, sender, pollIntervalMs: 20 });
    await relay.start();
    try {
      await waitFor(() => sender.deliveries.length === 1, { message: 'the scheduled message' });
    } finally {
      await relay.stop();
    }
    expect(sender.deliveries.map((m) => m.topic)).toEqual(['soon']);
    expect(claimedAt[0]).toBeGreaterThanOrEqual(soon.getTime());
    const [sent] = await db.store.list({ status: 'sent', topic: 'soon' });
    expect(sent!.sentAt!.getTime()).toBeGreaterThanOrEqual(soon.getTime());
    expect(Math.abs(sent!.sentAt!.getTime() - claimedAt[0]!)).toBeLessThan(10 * 60_000);
    expect((await db.store.list({ status: 'pending' })).map((m) => m.topic)).toEqual(['far']);
  });

  it('a producer inserts and commits while a relay holds a claimed batch in a slow send', async () => {
    // On InnoDB a locking claim at REPEATABLE READ also locks the gaps around the rows it reads,
    // which would block these inserts until the batch commits; the relay claims at READ COMMITTED.
    db = await createTestOutbox(database);
    await db.add(messages(5, 'claimed'));
    const inSender = gate();
    const release = gate();
    const sender = scriptedSender(async () => {
      inSender.open();
      await release.promise;
      return { status: 'sent' };
    });
    const relay = createRelay({
      store: db.store,
      sender,
      batchSize: 100,
      concurrency: 1,
      pollIntervalMs: 20,
    });
    const outbox = createOutbox({ dialect: db.dialect });
    await relay.start();
    try {
      await inSender.promise;
      const now = await db.now();
      const producing = (async () => {
        const tx = await db!.pool.begin();
        try {
          // Before, among and after the claimed rows in the claim index's order.
          await outbox.add(tx.executor, [
            { topic: 'produced', payload: 1, availableAt: new Date(now - 60_000) },
            { topic: 'produced', payload: 2 },
            { topic: 'produced', payload: 3, availableAt: new Date(now + 3_600_000) },
          ]);
        } catch (error) {
          await tx.rollback();
          throw error;
        }
        await tx.commit();
      })();
      await expect(withinDeadline(producing, 10_000, 'the producer to commit')).resolves.toBeUndefined();
      expect(sender.calls).toBe(1);
      expect(release.opened).toBe(false);
    } finally {
      release.open();
      await relay.stop();
    }
    expect(await db.count("topic = 'produced'")).toBe(3);
  });
  it("recording retries and dead letters never waits for another relay's claimed batch", async () => {
    // Two relays on a small table: A holds its batch in a slow send while B records failures.
    // B's completion must lock only B's own rows, whatever plan the database picks for it.
    db = await createTestOutbox(database);
    await db.add(messages(6));
    const inSend = gate();
    const release = gate();
    const a = createRelay({
      store: db.newStore({ connections: 1 }).store,
      batchSize: 3,
      sender: scriptedSender(async () => {
        inSend.open();
        await release.promise;
        return { status: 'sent' };
      }),
    });
    const b = createRelay({
      store: db.newStore({ connections: 1 }).store,
      batchSize: 3,
      backoff: { initialDelayMs: 60_000 },
      sender: scriptedSender((m) =>
        Number(m.id) % 2 ? { status: 'retry', error: 'later' } : { status: 'dead', error: 'never' },
      ),
    });
    const holding = a.runOnce({ maxBatches: 1 });
    try {
      await inSend.promise;
      const report = await withinDeadline(b.runOnce({ maxBatches: 1 }), 10_000, "B's completion");
      expect(report.retried + report.dead).toBe(3);
    } finally {
      release.open();
      await holding;
    }
    const stats = await db.store.stats();
    expect(stats.sent).toBe(3);
    expect(stats.pending + stats.dead).toBe(3);
  });
});
