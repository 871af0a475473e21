import { afterAll, describe, expect, it } from 'vitest';
import { createRelay, type Relay } from '../src/index.js';
import { waitFor } from '../src/testing/index.js';
import { createTestOutbox, databases, messages, scriptedSender, type TestOutbox } from './helpers.js';

describe.each(databases)('on $label', (database) => {
  let db: TestOutbox | undefined;
  afterAll(async () => {
    await db?.close();
  });

  it('4 relays on separate pools deliver 20,000 messages, each exactly once', async () => {
    db = await createTestOutbox(database);
    const total = 20_000;
    await db.add(messages(total));
    const ids = new Set(await db.ids());
    expect(ids.size).toBe(total);

    // Which relay delivered each id, and how many times any id was delivered.
    const deliveredBy = new Map<string, number>();
    const duplicates: string[] = [];
    const perRelay = [0, 0, 0, 0];
    const relays: Relay[] = [];
    for (let r = 0; r < 4; r++) {
      const { store } = db.newStore({ connections: 3 });
      const sender = scriptedSender((m) => {
        if (deliveredBy.has(m.id)) duplicates.push(m.id);
        deliveredBy.set(m.id, r);
        perRelay[r]!++;
        return { status: 'sent' };
      });
      relays.push(createRelay({ store, sender, concurrency: 2, batchSize: 200, pollIntervalMs: 20 }));
    }
    const started = performance.now();
    await Promise.all(relays.map((r) => r.start()));
    try {
      await waitFor(() => deliveredBy.size === total, { timeoutMs: 45_000, message: 'every message' });
      await waitFor(async () => (await db!.store.stats()).sent === total, { message: 'every commit' });
    } finally {
      await Promise.all(relays.map((r) => r.stop()));
    }
    const seconds = (performance.now() - started) / 1000;
    console.info(
      `${database.label}: 4 relays × concurrency 2: ${total} messages in ${seconds.toFixed(2)} s (${Math.round(total / seconds)}/s); per relay ${perRelay.join(', ')}`,
    );
    expect(duplicates).toEqual([]);
    expect([...deliveredBy.keys()].every((id) => ids.has(id))).toBe(true);
    expect(perRelay.reduce((a, b) => a + b, 0)).toBe(total);
    const stats = await db.store.stats();
    expect(stats).toMatchObject({ pending: 0, sent: total, dead: 0 });
  });
});
