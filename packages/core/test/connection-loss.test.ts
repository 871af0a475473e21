import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { createRelay } from '../src/index.js';
import { uniqueName, waitFor } from '../src/testing/index.js';
import { createTestOutbox, gate, messages, scriptedSender, type TestOutbox, url } from './helpers.js';

let db: TestOutbox | undefined;
const admin = new pg.Client({ connectionString: url });
afterAll(async () => {
  await db?.close();
  await admin.end();
});

it("pg_terminate_backend on the relay's connections mid-batch: the relay recovers by itself and delivers everything", async () => {
  db = await createTestOutbox({ prefix: 'kill' });
  await admin.connect();
  const total = 500;
  await db.add(messages(total));

  const applicationName = uniqueName('relay');
  const { store, pool } = db.newStore({ application_name: applicationName, max: 3 });
  const poolErrors: Error[] = [];
  pool.on('error', (e) => poolErrors.push(e));

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
    const { rows } = await admin.query<{ killed: boolean }>(
      'SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity WHERE application_name = $1',
      [applicationName],
    );
    expect(rows.length).toBeGreaterThanOrEqual(2);
    expect(rows.every((r) => r.killed)).toBe(true);
    await waitFor(
      async () =>
        (await admin.query('SELECT 1 FROM pg_stat_activity WHERE application_name = $1', [applicationName]))
          .rowCount === 0,
      { message: 'the terminated backends to exit' },
    );
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
  expect(errors.every((e) => e.operation === 'batch')).toBe(true);
  expect(deliveredOnce.size).toBe(total);
  // The two blocked batches were delivered again after the reconnect: at least once, not more.
  const counts = new Map<string, number>();
  for (const m of sender.deliveries) counts.set(m.id, (counts.get(m.id) ?? 0) + 1);
  expect([...counts.values()].every((n) => n <= 2)).toBe(true);
  expect([...counts.values()].filter((n) => n === 2).length).toBeLessThanOrEqual(200);
  expect(await db.store.stats()).toMatchObject({ pending: 0, dead: 0, sent: total });
});
