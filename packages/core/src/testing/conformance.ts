import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isOutboxError } from '../errors.js';
import type { Executor } from '../executor.js';
import { type NewMessage, payloadJson } from '../message.js';
import { createRelay } from '../relay.js';
import { retry, sent } from '../sender.js';
import type { MessageStore } from '../store.js';
import { recordingSender } from './recording-sender.js';

/** What an adapter under test provides to {@link runConformanceSuite}. */
export interface ConformanceHarness {
  /** A migrated store on its own schema or table, so suites can run in parallel. */
  readonly store: MessageStore;
  /**
   * Run `fn` in a transaction opened the adapter's own way (an ORM's `transaction()`), with an
   * executor bound to it. Commits when `fn` resolves, rolls back when it throws.
   */
  transaction<T>(fn: (tx: Executor) => Promise<T>): Promise<T>;
  /** False for single-connection databases (PGlite), where two transactions cannot be open at once. */
  readonly concurrentTransactions: boolean;
  /** Drop the schema or table and close connections. */
  close(): Promise<void>;
}

class Rollback extends Error {}

/** Count statements that pass through an executor. */
function counting(tx: Executor): Executor & { count: number } {
  const wrapped = {
    count: 0,
    query: (sql: string, params?: readonly unknown[]) => {
      wrapped.count++;
      return tx.query(sql, params);
    },
  };
  return wrapped as Executor & { count: number };
}

/**
 * The behaviour every {@link MessageStore} and executor pair must have, as a vitest suite.
 * Call it at the top level of a test file.
 *
 * @example
 * ```ts
 * runConformanceSuite('pg', async () => {
 *   const schema = uniqueName();
 *   const store = new SqlMessageStore({ dialect: postgres({ schema }), db: pgPool(pool) });
 *   await store.migrate();
 *   return { store, transaction: (fn) => store.db.transaction(fn), concurrentTransactions: true,
 *            close: () => pool.query(`DROP SCHEMA ${schema} CASCADE`) };
 * });
 * ```
 */
export function runConformanceSuite(name: string, setup: () => Promise<ConformanceHarness>): void {
  describe(`MessageStore conformance: ${name}`, () => {
    let h: ConformanceHarness;
    beforeAll(async () => {
      h = await setup();
    });
    afterAll(async () => {
      await h?.close();
    });

    // Each test drains what it wrote, so tests can share one table.
    async function drain(): Promise<string[]> {
      return h.store.db.transaction(async (tx) => {
        const batch = await h.store.claim(tx, 100_000);
        await h.store.complete(
          tx,
          batch.map((m) => ({ id: m.id, status: 'sent' as const })),
        );
        return batch.map((m) => m.topic);
      });
    }
    const add = (messages: NewMessage | NewMessage[]) => h.transaction((tx) => h.store.add(tx, messages));

    it('migrate is idempotent', async () => {
      const again = await h.store.migrate();
      expect(again.applied).toEqual([]);
      expect(again.version).toBeGreaterThanOrEqual(1);
    });

    it('a committed message is claimable; a rolled-back one never is', async () => {
      await add({ topic: 'committed', payload: { n: 1 } });
      await expect(
        h.transaction(async (tx) => {
          await h.store.add(tx, { topic: 'rolled-back', payload: { n: 2 } });
          throw new Rollback('business failure');
        }),
      ).rejects.toBeInstanceOf(Rollback);
      expect(await drain()).toEqual(['committed']);
    });

    it('adds 1,000 messages in one statement', async () => {
      const messages = Array.from({ length: 1000 }, (_, i) => ({
        topic: 'bulk',
        key: `k${i % 7}`,
        payload: { i },
      }));
      const statements = await h.transaction(async (tx) => {
        const c = counting(tx);
        expect(await h.store.add(c, messages)).toBe(1000);
        return c.count;
      });
      // Keyed messages on an ordered table: MySQL bumps the key counters in a statement of its own.
      expect(statements).toBeGreaterThanOrEqual(1);
      expect(statements).toBeLessThanOrEqual(h.store.ordering === 'key' ? 2 : 1);
      const topics = await drain();
      expect(topics).toHaveLength(1000);
    });

    it('round-trips JSON and byte payloads, key and headers, in id order', async () => {
      const bytes = new Uint8Array([0, 1, 2, 254, 255]);
      await add([
        {
          topic: 'a',
          key: 'order-1',
          payload: { text: 'héllo 🐟', list: [1, null, true] },
          headers: { traceparent: 'x' },
        },
        { topic: 'b', payload: bytes },
        { topic: 'c', payload: null },
      ]);
      await h.store.db.transaction(async (tx) => {
        const batch = await h.store.claim(tx, 10);
        expect(batch.map((m) => m.topic)).toEqual(['a', 'b', 'c']);
        const [a, b, c] = batch;
        expect(BigInt(a!.id) < BigInt(b!.id)).toBe(true);
        expect(a!.key).toBe('order-1');
        expect(a!.headers).toEqual({ traceparent: 'x' });
        expect(a!.contentType).toBe('application/json');
        expect(payloadJson(a!)).toEqual({ text: 'héllo 🐟', list: [1, null, true] });
        expect(b!.key).toBeNull();
        expect(b!.contentType).toBe('application/octet-stream');
        expect([...b!.payload]).toEqual([...bytes]);
        expect(payloadJson(c!)).toBeNull();
        expect(a!.attempts).toBe(0);
        expect(a!.createdAt).toBeInstanceOf(Date);
        await h.store.markSent(
          tx,
          batch.map((m) => m.id),
        );
      });
    });

    it('rejects invalid messages with a typed error and writes nothing', async () => {
      const bad: unknown[] = [
        { topic: '', payload: 1 },
        { topic: 42, payload: 1 },
        { topic: 't', payload: undefined },
        { topic: 't', payload: { f: () => 1 } },
        { topic: 't', payload: { n: Number.NaN } },
        { topic: 't', payload: { big: 10n } },
        { topic: 't', key: 5, payload: 1 },
        { topic: 't', payload: 1, headers: { h: 1 } },
        { topic: 't', payload: 1, availableAt: 'tomorrow' },
        { topic: 't', payload: 'x'.repeat(2 * 1024 * 1024) },
        { topic: 't', payload: 1, extra: true },
      ];
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      bad.push({ topic: 't', payload: cyclic });
      for (const message of bad) {
        const error = await h
          .transaction((tx) =>
            h.store.add(tx, [{ topic: 'valid-before', payload: 1 }, message as NewMessage]),
          )
          .then(
            () => null,
            (e: unknown) => e,
          );
        expect(isOutboxError(error), `expected an OutboxError for ${JSON.stringify(String(message))}`).toBe(
          true,
        );
      }
      expect(await drain()).toEqual([]);
    });

    it('does not claim a message before its availableAt', async () => {
      await add([
        { topic: 'later', payload: 1, availableAt: new Date(Date.now() + 60 * 60_000) },
        { topic: 'now', payload: 1, availableAt: new Date(Date.now() - 1000) },
      ]);
      expect(await drain()).toEqual(['now']);
      const stats = await h.store.stats();
      expect(stats.pending - stats.due).toBe(1);
      const later = await h.store.list({ status: 'pending', topic: 'later' });
      expect(later).toHaveLength(1);
      expect(later[0]!.availableAt.getTime()).toBeGreaterThan(Date.now() + 30 * 60_000);
      // Leave no pending work for the tests that follow.
      await h.store.db.transaction((tx) => h.store.markSent(tx, [later[0]!.id]));
    });

    it('gives each claimed row to one transaction only (SKIP LOCKED)', async () => {
      if (!h.concurrentTransactions) {
        // One connection: transactions cannot overlap, so exclusivity is structural. Check that
        // claims in sequence still never return a row twice.
        await add(Array.from({ length: 20 }, (_, i) => ({ topic: 'lock', payload: i })));
        const first = await h.store.db.transaction(async (tx) => {
          const b = await h.store.claim(tx, 10);
          await h.store.markSent(
            tx,
            b.map((m) => m.id),
          );
          return b.map((m) => m.id);
        });
        const second = await drain();
        expect(first).toHaveLength(10);
        expect(second).toHaveLength(10);
        return;
      }
      await add(Array.from({ length: 20 }, (_, i) => ({ topic: 'lock', payload: i })));
      let releaseFirst!: () => void;
      const firstHolds = new Promise<void>((r) => {
        releaseFirst = r;
      });
      let firstClaimed!: (ids: string[]) => void;
      const firstIds = new Promise<string[]>((r) => {
        firstClaimed = r;
      });
      const tx1 = h.store.db.transaction(async (tx) => {
        const b = await h.store.claim(tx, 12);
        firstClaimed(b.map((m) => m.id));
        await firstHolds;
        await h.store.markSent(
          tx,
          b.map((m) => m.id),
        );
      });
      const a = await firstIds;
      const b = await h.store.db.transaction(async (tx) => {
        const batch = await h.store.claim(tx, 100);
        await h.store.markSent(
          tx,
          batch.map((m) => m.id),
        );
        return batch.map((m) => m.id);
      });
      releaseFirst();
      await tx1;
      expect(a).toHaveLength(12);
      expect(b).toHaveLength(8);
      expect(a.filter((id) => b.includes(id))).toEqual([]);
    });

    it('records sent, retry and dead outcomes', async () => {
      await add([
        { topic: 'ok', payload: 1 },
        { topic: 'again', payload: 2 },
        { topic: 'poison', payload: 3 },
      ]);
      const ids = await h.store.db.transaction(async (tx) => {
        const batch = await h.store.claim(tx, 10);
        const [ok, again, poison] = batch;
        await h.store.complete(tx, [
          { id: ok!.id, status: 'sent' },
          { id: again!.id, status: 'retry', error: 'broker down', delayMs: 60_000 },
          { id: poison!.id, status: 'dead', error: 'unroutable' },
        ]);
        return batch.map((m) => m.id);
      });
      const [okId, againId, poisonId] = ids;
      const ok = await h.store.get(okId!);
      const again = await h.store.get(againId!);
      const poison = await h.store.get(poisonId!);
      expect(ok?.status).toBe('sent');
      expect(ok?.sentAt).toBeInstanceOf(Date);
      expect(again).toMatchObject({ status: 'pending', attempts: 1, lastError: 'broker down' });
      expect(again!.availableAt.getTime()).toBeGreaterThan(Date.now() + 30_000);
      expect(poison).toMatchObject({ status: 'dead', attempts: 1, lastError: 'unroutable' });
      expect(await h.store.get('999999999999')).toBeNull();
      // The retry is not due yet, and the dead one is never claimed.
      expect(await drain()).toEqual([]);
      const stats = await h.store.stats();
      expect(stats.pending).toBe(1);
      expect(stats.due).toBe(0);
      expect(stats.dead).toBe(1);
      expect(stats.oldestPendingAt).toBeInstanceOf(Date);
      // Clean up for the tests that follow.
      await h.store.purge('dead', { ids: [poisonId!] });
      await h.store.db.transaction(async (tx) => {
        await h.store.markSent(tx, [againId!]);
      });
    });

    it('reclaim locks again only messages still pending with the attempts they were claimed with, skipping those another transaction holds', async () => {
      // Optional in the contract: a store without it leaves the relay no fallback to record.
      if (typeof h.store.reclaim !== 'function') return;
      const reclaim = h.store.reclaim.bind(h.store);
      await add([0, 1, 2, 3].map((i) => ({ topic: 'reclaim', payload: i })));
      const claimed = await h.store.db.transaction(async (tx) => {
        const batch = await h.store.claim(tx, 10);
        // Recorded since: one counted an attempt, one was sent.
        await h.store.complete(tx, [
          { id: batch[0]!.id, status: 'retry', error: 'recorded', delayMs: 0 },
          { id: batch[1]!.id, status: 'sent' },
        ]);
        return batch;
      });
      expect(claimed.map((m) => m.attempts)).toEqual([0, 0, 0, 0]);
      const ids = claimed.map((m) => m.id);
      let releaseHolder!: () => void;
      const holding = new Promise<void>((r) => {
        releaseHolder = r;
      });
      let held!: (ids: string[]) => void;
      const heldIds = new Promise<string[]>((r) => {
        held = r;
      });
      // Another transaction holds the last one locked (on single-connection databases, none can).
      let holder = Promise.resolve();
      if (h.concurrentTransactions) {
        holder = h.store.db.transaction(async (tx) => {
          held(await reclaim(tx, [claimed[3]!]));
          await holding;
        });
      } else held([]);
      const holderGot = await heldIds;
      const got = await h.store.db.transaction((tx) => reclaim(tx, claimed));
      releaseHolder();
      await holder;
      expect(got).toEqual(h.concurrentTransactions ? [ids[2]] : [ids[2], ids[3]]);
      expect(holderGot).toEqual(h.concurrentTransactions ? [ids[3]] : []);
      expect(await h.store.db.transaction((tx) => reclaim(tx, []))).toEqual([]);
      // Clean up for the tests that follow.
      await h.store.db.transaction(async (tx) => {
        await h.store.markSent(tx, [ids[0]!, ids[2]!, ids[3]!]);
      });
    });

    it('lists, requeues and purges dead letters', async () => {
      await add([
        { topic: 'dl-a', payload: 1 },
        { topic: 'dl-a', payload: 2 },
        { topic: 'dl-b', payload: 3 },
        { topic: 'dl-b', payload: 4 },
      ]);
      await h.store.db.transaction(async (tx) => {
        const batch = await h.store.claim(tx, 10);
        await h.store.markFailed(
          tx,
          batch.map((m) => ({ id: m.id, status: 'dead' as const, error: `bad ${m.topic}` })),
        );
      });
      const all = await h.store.deadLetters();
      expect(all.map((m) => m.topic)).toEqual(['dl-a', 'dl-a', 'dl-b', 'dl-b']);
      expect(all[0]).toMatchObject({ status: 'dead', lastError: 'bad dl-a', attempts: 1 });
      expect((await h.store.deadLetters({ topic: 'dl-b' })).map((m) => m.topic)).toEqual(['dl-b', 'dl-b']);
      const page = await h.store.deadLetters({ limit: 2 });
      expect(page).toHaveLength(2);
      expect((await h.store.deadLetters({ afterId: page[1]!.id })).map((m) => m.id)).toEqual(
        all.slice(2).map((m) => m.id),
      );

      // Requeue one by id: it comes back with its attempts reset, and is delivered.
      expect(await h.store.requeueDead({ ids: [all[0]!.id] })).toBe(1);
      expect(await h.store.get(all[0]!.id)).toMatchObject({ status: 'pending', attempts: 0 });
      expect(await drain()).toEqual(['dl-a']);
      // Requeue all of a topic.
      expect(await h.store.requeueDead({ all: true, topic: 'dl-b' })).toBe(2);
      expect(await drain()).toEqual(['dl-b', 'dl-b']);
      // Purge the rest.
      expect(await h.store.purge('dead', { all: true })).toBe(1);
      expect(await h.store.deadLetters()).toEqual([]);
      // Unknown ids and bad ids.
      expect(await h.store.requeueDead({ ids: ['999999999999'] })).toBe(0);
      await expect(h.store.requeueDead({ ids: ['1; DROP TABLE x'] })).rejects.toSatisfy((e) =>
        isOutboxError(e, 'INVALID_OPTION'),
      );
      // Sent messages can be purged by age.
      const purged = await h.store.purge('sent', { olderThan: new Date(Date.now() + 1000) });
      expect(purged).toBeGreaterThan(0);
      expect((await h.store.stats()).sent).toBe(0);
    });

    it('relay: delivers every committed message once, retries, then dead-letters', async () => {
      const messages = Array.from({ length: 250 }, (_, i) => ({
        topic: i % 50 === 0 ? 'flaky' : 'fine',
        payload: { i },
      }));
      await add(messages);
      const sender = recordingSender((m) => {
        if (m.topic !== 'flaky') return sent();
        return retry(new Error('flaky broker'), 0);
      });
      const relay = createRelay({ store: h.store, sender, batchSize: 100, maxAttempts: 3 });
      const deadEvents: string[] = [];
      relay.on('dead', ({ message }) => deadEvents.push(message.id));
      const total = { sent: 0, retried: 0, dead: 0 };
      // Retries are due at once (retryAfterMs 0); run until nothing is left.
      for (let i = 0; i < 6 && (i === 0 || (await h.store.stats()).pending > 0); i++) {
        const s = await relay.runOnce();
        total.sent += s.sent;
        total.retried += s.retried;
        total.dead += s.dead;
      }
      expect(total).toEqual({ sent: 245, retried: 10, dead: 5 });
      const fine = sender.sentIds;
      expect(new Set(fine).size).toBe(245);
      expect(fine).toHaveLength(245);
      const flakyDeliveries = sender.deliveries.filter((m) => m.topic === 'flaky');
      expect(flakyDeliveries).toHaveLength(5 * 3);
      expect(deadEvents).toHaveLength(5);
      const deadLetters = await h.store.deadLetters({ topic: 'flaky' });
      expect(deadLetters).toHaveLength(5);
      for (const d of deadLetters) expect(d).toMatchObject({ attempts: 3, lastError: 'flaky broker' });
      expect((await h.store.stats()).pending).toBe(0);
      await h.store.purge('dead', { all: true });
      await h.store.purge('sent', { olderThan: new Date(Date.now() + 1000) });
    });

    it('relay: a sender that throws costs every message of its batch one attempt', async () => {
      await add([
        { topic: 'x', payload: 1 },
        { topic: 'y', payload: 2 },
      ]);
      const seen: string[] = [];
      const relay = createRelay({
        store: h.store,
        sender: {
          send: async (batch) => {
            seen.push(...batch.map((m) => m.id));
            throw new Error('connection refused');
          },
        },
        backoff: { initialDelayMs: 60_000 },
      });
      expect(await relay.runOnce()).toMatchObject({ batches: 1, sent: 0, retried: 2 });
      expect(seen).toHaveLength(2);
      for (const id of seen) {
        const m = await h.store.get(id);
        expect(m).toMatchObject({ status: 'pending', attempts: 1, lastError: 'connection refused' });
        expect(m!.availableAt.getTime()).toBeGreaterThan(Date.now() + 20_000);
      }
      // Not due: a second run claims nothing.
      expect(await relay.runOnce()).toMatchObject({ batches: 0 });
      await h.store.db.transaction((tx) => h.store.markSent(tx, seen));
    });
  });
}
