import { afterEach, describe, expect, it } from 'vitest';
import {
  type BatchEvent,
  createRelay,
  type OutboxMessage,
  type RelayEventMap,
  TypedEmitter,
} from '../src/index.js';
import { waitFor } from '../src/testing/index.js';
import { createTestOutbox, databases, scriptedSender, type TestOutbox } from './helpers.js';

let db: TestOutbox | undefined;
afterEach(async () => {
  await db?.close();
  db = undefined;
});

describe.each(databases)('relay events on $label', (database) => {
  it('batch, sent, retry and dead carry the right data and fire after the commit', async () => {
    db = await createTestOutbox(database, { prefix: 'events' });
    await db.add([
      { topic: 'ok', payload: 1 },
      { topic: 'flaky', payload: 2 },
      { topic: 'poison', payload: 3 },
      { topic: 'ok', payload: 4 },
    ]);
    const flakyError = new Error('broker busy');
    const poisonError = new Error('unroutable');
    const relay = createRelay({
      store: db.store,
      sender: scriptedSender((m) =>
        m.topic === 'flaky'
          ? { status: 'retry', error: flakyError, retryAfterMs: 60_000 }
          : m.topic === 'poison'
            ? { status: 'dead', error: poisonError }
            : { status: 'sent' },
      ),
    });
    // Each listener reads the row from another connection the moment it fires: what it sees
    // is committed state.
    const look = (id: string) =>
      db!.sql<{ status: string; attempts: number }>('SELECT status, attempts FROM $table WHERE id = ?', [id]);
    const checks: Promise<unknown>[] = [];
    const events: { name: keyof RelayEventMap; event: unknown }[] = [];
    relay.on('sent', (e) => {
      events.push({ name: 'sent', event: e });
      for (const m of e.messages) checks.push(look(m.id).then(([row]) => expect(row!.status).toBe('sent')));
    });
    relay.on('retry', (e) => {
      events.push({ name: 'retry', event: e });
      checks.push(
        look(e.message.id).then(([row]) => expect(row).toEqual({ status: 'pending', attempts: 1 })),
      );
    });
    relay.on('dead', (e) => {
      events.push({ name: 'dead', event: e });
      checks.push(look(e.message.id).then(([row]) => expect(row).toEqual({ status: 'dead', attempts: 1 })));
    });
    relay.on('batch', (e) => events.push({ name: 'batch', event: e }));
    expect(await relay.runOnce()).toEqual({ batches: 1, sent: 2, retried: 1, dead: 1 });
    await Promise.all(checks);
    expect(checks).toHaveLength(4);

    expect(events.map((e) => e.name)).toEqual(['retry', 'dead', 'sent', 'batch']);
    const [retry, dead, sent, batch] = events.map((e) => e.event) as [
      RelayEventMap['retry'],
      RelayEventMap['dead'],
      RelayEventMap['sent'],
      BatchEvent,
    ];
    expect(retry.message.topic).toBe('flaky');
    expect(retry.error).toBe(flakyError);
    expect(retry.delayMs).toBe(60_000);
    expect(retry.attempts).toBe(1);
    expect(dead.message.topic).toBe('poison');
    expect(dead.error).toBe(poisonError);
    expect(dead.attempts).toBe(1);
    expect(sent.messages.map((m: OutboxMessage) => m.topic)).toEqual(['ok', 'ok']);
    expect(batch).toMatchObject({ size: 4, sent: 2, retried: 1, dead: 1 });
    expect(batch.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('a throwing listener never breaks the loop; it is reported as an error event and to onError', async () => {
    db = await createTestOutbox(database, { prefix: 'events' });
    const reported: { error: unknown; operation: string }[] = [];
    const relay = createRelay({
      store: db.store,
      sender: scriptedSender(),
      batchSize: 10,
      pollIntervalMs: 5,
      onError: (error, operation) => reported.push({ error, operation }),
    });
    const errors: string[] = [];
    let sentSeen = 0;
    for (const name of ['batch', 'sent', 'retry', 'dead'] as const) {
      relay.on(name, () => {
        throw new Error(`listener of ${name} failed`);
      });
    }
    relay.on('sent', (e) => {
      sentSeen += e.messages.length;
    });
    relay.on('error', ({ operation }) => errors.push(operation));
    relay.on('error', () => {
      throw new Error('even the error listener fails');
    });
    await relay.start();
    try {
      await db.add(Array.from({ length: 25 }, (_, i) => ({ topic: 't', payload: i })));
      await waitFor(() => sentSeen === 25, { message: 'every message, past the throwing listeners' });
      await db.add({ topic: 'late', payload: 1 });
      await waitFor(() => sentSeen === 26, { message: 'the loop still running' });
    } finally {
      await relay.stop();
    }
    expect(errors).toContain('listener:sent');
    expect(errors).toContain('listener:batch');
    expect(reported.map((r) => r.operation)).toEqual(errors);
    expect(String(reported[0]!.error)).toMatch(/listener of (sent|batch) failed/);
    expect((await db.store.stats()).sent).toBe(26);
  });

  it('a database error is an error event (operation batch); the relay carries on once the table exists', async () => {
    db = await createTestOutbox(database, { prefix: 'events' });
    // A store on a table that does not exist yet: every claim fails.
    const store = db.storeFor('late_table');
    const sender = scriptedSender();
    const relay = createRelay({ store, sender, errorDelayMs: 5, pollIntervalMs: 5 });
    const errors: { error: unknown; operation: string }[] = [];
    relay.on('error', (e) => errors.push(e));
    await relay.start();
    try {
      await waitFor(() => errors.length >= 2, { message: 'claims failing' });
      expect(errors[0]!.operation).toBe('batch');
      // PostgreSQL: relation … does not exist; MySQL: Table '…' doesn't exist.
      expect(String(errors[0]!.error)).toMatch(/late_table.* (does not|doesn't) exist/);
      await store.migrate();
      await store.db.transaction((tx) => store.add(tx, { topic: 'after', payload: 1 }));
      await waitFor(() => sender.deliveries.length === 1);
    } finally {
      await relay.stop();
    }
  });

  it('on() returns an unsubscribe; off() removes a listener', async () => {
    db = await createTestOutbox(database, { prefix: 'events' });
    await db.add([
      { topic: 'a', payload: 1 },
      { topic: 'b', payload: 2 },
    ]);
    const relay = createRelay({ store: db.store, sender: scriptedSender(), batchSize: 1 });
    const seen: number[] = [];
    const listener = (e: BatchEvent) => seen.push(e.size);
    const off = relay.on('batch', listener);
    expect(await relay.runOnce({ maxBatches: 1 })).toMatchObject({ batches: 1 });
    off();
    relay.off('batch', listener);
    expect(await relay.runOnce()).toMatchObject({ batches: 1 });
    expect(seen).toEqual([1]);
  });
});

describe('TypedEmitter', () => {
  it('reports a throwing listener as an error event and keeps calling the others', () => {
    const events = new TypedEmitter<RelayEventMap>();
    const calls: string[] = [];
    events.on('batch', () => {
      throw new Error('boom');
    });
    events.on('batch', () => calls.push('second'));
    events.on('error', ({ operation }) => calls.push(operation));
    events.emit('batch', { size: 1, sent: 1, retried: 0, dead: 0, durationMs: 1 });
    expect(calls).toEqual(['listener:batch', 'second']);
    expect(events.listenerCount('batch')).toBe(2);
  });
});
