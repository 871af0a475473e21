import { afterAll, describe, expect, it } from 'vitest';
import { createRelay } from '../src/index.js';
import { waitFor } from '../src/testing/index.js';
import { createTestOutbox, databases, gate, messages, scriptedSender, type TestOutbox } from './helpers.js';

describe.each(databases)('on $label', (database) => {
  let db: TestOutbox | undefined;
  afterAll(async () => {
    await db?.close();
  });

  // PostgreSQL: pg_terminate_backend by application_name; MariaDB: KILL CONNECTION of the pool's threads.
  it("the relay's connections killed by the server mid-batch: the relay recovers by itself and delivers everything", async () => {
    db = await createTestOutbox(database, { prefix: 'kill' });
    const total = 500;
    await db.add(messages(total));

    const { store, pool } = db.newStore({ connections: 3 });

    const firstBatch = gate();
    const release = gate();
    const deliveredOnce = new Set<string>();
    const sender = scriptedSender(async (m) => {
      deliveredOnce.add(m.id);
      if (!release.opened) {
        firstBatch.open();
        await release.promise;
      }
      return { status: 'sent' };
    });
    const relay = createRelay({
      store,
      sender,
      batchSize: 100,
      concurrency: 2,
      errorDelayMs: 10,
      pollIntervalMs: 20,
    });
    const errors: { error: unknown; operation: string }[] = [];
    relay.on('error', (e) => errors.push(e));
    await relay.start();
    try {
      // Both loops hold a claimed batch in an open transaction, blocked in the sender.
      await firstBatch.promise;
      await waitFor(() => sender.calls === 2, { message: 'both loops inside the sender' });
      // Returns once the server has ended them all.
      expect(await pool.terminateConnections()).toBeGreaterThanOrEqual(2);
      // The broker acks the blocked batches; recording them fails on the dead connections.
      release.open();
      await waitFor(async () => (await db!.store.stats()).sent === total, {
        timeoutMs: 30_000,
        message: 'every message recorded as sent after the reconnect',
      });
    } finally {
      await relay.stop();
    }
    expect(errors.length).toBeGreaterThanOrEqual(1);
    // Batches failed on the dead connections; on PostgreSQL the listening connection was ended too.
    expect(errors.every((e) => e.operation === 'batch' || e.operation === 'listen')).toBe(true);
    expect(deliveredOnce.size).toBe(total);
    // The two blocked batches were delivered again after the reconnect: at least once, not more.
    const counts = new Map<string, number>();
    for (const m of sender.deliveries) counts.set(m.id, (counts.get(m.id) ?? 0) + 1);
    expect([...counts.values()].every((n) => n <= 2)).toBe(true);
    expect([...counts.values()].filter((n) => n === 2).length).toBeLessThanOrEqual(200);
    expect(await db.store.stats()).toMatchObject({ pending: 0, dead: 0, sent: total });
  });
});
