import { afterEach, describe, expect, it } from 'vitest';
import { createRelay, isOutboxError } from '../src/index.js';
import { waitFor } from '../src/testing/index.js';
import {
  createTestOutbox,
  databases,
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

describe.each(databases)('stop() on $label', (database) => {
  it('drains: every claimed batch is finished and recorded, none is left locked or half-done', async () => {
    db = await createTestOutbox(database, { prefix: 'stop' });
    await db.add(messages(1000));
    const held = gate();
    const sender = scriptedSender(async () => {
      await held.promise;
      return { status: 'sent' };
    });
    const relay = createRelay({ store: db.store, sender, batchSize: 100, concurrency: 3 });
    await relay.start();
    await waitFor(() => sender.calls === 3, { message: 'three batches in the sender' });
    const stopping = relay.stop();
    expect(relay.state).toBe('stopping');
    held.open();
    await stopping;
    expect(relay.state).toBe('stopped');
    // The three in-flight batches were sent and recorded; nothing else was claimed.
    expect(sender.deliveries).toHaveLength(300);
    const claimed = new Set(sender.deliveries.map((m) => m.id));
    expect(new Set(await db.ids("status = 'sent'"))).toEqual(claimed);
    expect(await db.store.stats()).toMatchObject({ pending: 700, sent: 300, dead: 0 });
    // No lock is left behind: another claimer gets all the rest.
    const rest = await db.store.db.transaction((tx) => db!.store.claim(tx, 10_000));
    expect(rest).toHaveLength(700);
  });

  it('with a short deadline aborts a hanging send, records the batch as a retry, and resolves', async () => {
    db = await createTestOutbox(database, { prefix: 'stop' });
    await db.add(messages(5));
    const signals: AbortSignal[] = [];
    const relay = createRelay({
      store: db.store,
      sender: {
        send: (_, { signal }) => {
          signals.push(signal);
          return new Promise(() => {});
        },
      },
      backoff: { initialDelayMs: 60_000 },
    });
    await relay.start();
    await waitFor(() => signals.length === 1);
    await relay.stop({ timeoutMs: 30 });
    expect(relay.state).toBe('stopped');
    expect(signals[0]!.aborted).toBe(true);
    expect(isOutboxError(signals[0]!.reason, 'RELAY_STATE')).toBe(true);
    const pending = await db.store.list({ status: 'pending' });
    expect(pending).toHaveLength(5);
    expect(pending.every((m) => m.attempts === 1 && m.lastError?.includes('relay stopped'))).toBe(true);
  });

  it('a stopped relay claims nothing, even when woken', async () => {
    db = await createTestOutbox(database, { prefix: 'stop' });
    const store = observedStore(db.store);
    const sender = scriptedSender();
    const relay = createRelay({ store, sender, pollIntervalMs: 5 });
    await relay.start();
    await waitFor(() => store.claims >= 2);
    await relay.stop();
    const claimsAtStop = store.claims;
    await db.add(messages(10));
    relay.wake();
    // A witness relay on another table, polling as fast, shows time passing for several polls.
    const witnessStore = observedStore(db.storeFor('witness'));
    await witnessStore.migrate();
    const witness = createRelay({ store: witnessStore, sender: scriptedSender(), pollIntervalMs: 5 });
    await witness.start();
    try {
      await waitFor(() => witnessStore.claims >= 10, { message: 'ten polls of the witness' });
    } finally {
      await witness.stop();
    }
    expect(store.claims).toBe(claimsAtStop);
    expect(sender.calls).toBe(0);
    expect((await db.store.stats()).pending).toBe(10);
  });

  it('concurrent stop() calls share one drain; start() while stopping is refused; start() after stop works', async () => {
    db = await createTestOutbox(database, { prefix: 'stop' });
    await db.add(messages(3));
    const held = gate();
    const sender = scriptedSender(async () => {
      await held.promise;
      return { status: 'sent' };
    });
    const relay = createRelay({ store: db.store, sender, pollIntervalMs: 5 });
    await relay.start();
    await waitFor(() => sender.calls === 1);
    const a = relay.stop();
    const b = relay.stop();
    expect(a).toBe(b);
    await expect(relay.start()).rejects.toSatisfy((e) => isOutboxError(e, 'RELAY_STATE'));
    await expect(relay.stop({ timeoutMs: -1 })).rejects.toSatisfy((e) => isOutboxError(e, 'INVALID_OPTION'));
    held.open();
    await Promise.all([a, b]);
    await db.add(messages(2, 'after'));
    await relay.start();
    try {
      await waitFor(async () => (await db!.store.stats()).sent === 5);
    } finally {
      await relay.stop();
    }
    expect(sender.deliveries.map((m) => m.topic).sort()).toEqual(['after', 'after', 't', 't', 't']);
  });

  it('stop() on a relay that never started resolves at once and leaves it stopped', async () => {
    db = await createTestOutbox(database, { prefix: 'stop' });
    const relay = createRelay({ store: db.store, sender: scriptedSender() });
    expect(relay.state).toBe('idle');
    await relay.stop();
    expect(relay.state).toBe('stopped');
  });
});
