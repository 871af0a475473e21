import { afterEach, describe, expect, it } from 'vitest';
import { createRelay, type OutboxMessage, payloadJson, SqlMessageStore, startPruning } from '../src/index.js';
import { waitFor } from '../src/testing/index.js';
import { createTestOutbox, databases, gate, scriptedSender, type TestOutbox } from './helpers.js';

// The ordered claim walks the keys (not the backlog) from where the store's last walk ended:
// relays share the keys, successive claims go round them, and messages without a key or
// without a seq still reach the sender. Key counters of idle keys are pruned.

let db: TestOutbox | undefined;
afterEach(async () => {
  await db?.close();
  db = undefined;
});

const uidOf = (m: OutboxMessage) => payloadJson<{ u: number }>(m).u;
const keysOf = (batch: readonly OutboxMessage[]) => new Set(batch.map((m) => m.key));

describe.each(databases)('the ordered claim on $label', (database) => {
  it('while one relay holds a batch, another claims a full batch of the other keys', async () => {
    db = await createTestOutbox(database, { prefix: 'walkshare', dialect: { ordering: 'key' } });
    // 200 keys, 3 messages each, written key by key.
    await db.add(
      Array.from({ length: 600 }, (_, i) => ({
        topic: 't',
        key: `k${String(i % 200).padStart(3, '0')}`,
        payload: { u: i },
      })),
    );
    const a = db.newStore({ connections: 1 }).store;
    const b = db.newStore({ connections: 1 }).store;
    await a.transaction(async (txA) => {
      const first = await a.claim(txA, 50);
      expect(first).toHaveLength(50);
      // Both walks start at the first key: B steps over A's keys instead of stopping at them.
      const second = await b.transaction((txB) => b.claim(txB, 50));
      expect(second).toHaveLength(50);
      const held = keysOf(first);
      expect([...keysOf(second)].filter((k) => held.has(k))).toEqual([]);
    });
  });

  it('successive claims go round the keys instead of coming back to the first ones', async () => {
    db = await createTestOutbox(database, { prefix: 'walkround', dialect: { ordering: 'key' } });
    await db.add(
      Array.from({ length: 90 }, (_, i) => ({
        topic: 't',
        key: `k${String(i % 30).padStart(2, '0')}`,
        payload: { u: i },
      })),
    );
    const store = db.store;
    const rounds: Set<string | null>[] = [];
    for (let i = 0; i < 3; i++) {
      rounds.push(
        keysOf(
          await store.transaction(async (tx) => {
            // Ten messages: a handful of keys each time, never one held before.
            const batch = await store.claim(tx, 10);
            await store.markSent(
              tx,
              batch.map((m) => m.id),
            );
            return batch;
          }),
        ),
      );
    }
    const seen = new Set<string | null>();
    for (const keys of rounds) {
      expect(keys.size).toBeGreaterThan(0);
      for (const k of keys) {
        expect(seen.has(k), `key ${k} claimed again before the walk went round`).toBe(false);
        seen.add(k);
      }
    }
    // Everything is still delivered, each key in order.
    const sender = scriptedSender();
    const relay = createRelay({ store, sender, batchSize: 10 });
    await relay.runOnce();
    const sentSoFar = 90 - (await db.count("status = 'pending'"));
    expect(sentSoFar).toBe(90);
    const byKey = new Map<string, number[]>();
    for (const m of sender.deliveries) byKey.set(m.key!, [...(byKey.get(m.key!) ?? []), uidOf(m)]);
    for (const list of byKey.values()) expect(list).toEqual([...list].sort((x, y) => x - y));
  });

  it('messages without a key, and messages written without ordering, reach an ordered relay', async () => {
    db = await createTestOutbox(database, { prefix: 'walkmixed', dialect: { ordering: 'key' } });
    // A producer without ordering on the same table (before the switch, say): no seq at all.
    const unordered = new SqlMessageStore({
      dialect: database.dialect(db.namespace, undefined, { ordering: 'none' }),
      db: db.pool.db,
    });
    await unordered.db.transaction((tx) =>
      unordered.add(tx, [
        { topic: 'legacy', key: 'k1', payload: { u: 1 } },
        { topic: 'legacy', payload: { u: 2 } },
      ]),
    );
    await db.add([
      { topic: 'ordered', key: 'k1', payload: { u: 3 } },
      { topic: 'ordered', payload: { u: 4 } },
      { topic: 'ordered', key: 'k2', payload: { u: 5 } },
    ]);
    const seqs = await db.sql<{ seq: unknown }>('SELECT seq FROM $table ORDER BY id');
    expect(seqs.map((r) => (r.seq == null ? null : Number(r.seq)))).toEqual(
      // PostgreSQL marks an ordered table's messages without a key with seq 0 (their index);
      // MySQL reads them by key IS NULL from the key index.
      [null, null, 1, database.name === 'postgres' ? 0 : null, 1],
    );
    const sender = scriptedSender();
    const relay = createRelay({ store: db.store, sender, batchSize: 10 });
    expect(await relay.runOnce()).toMatchObject({ sent: 5 });
    expect(sender.deliveries.map(uidOf).sort()).toEqual([1, 2, 3, 4, 5]);
    // Key k1: the message written without ordering goes first.
    expect(sender.deliveries.filter((m) => m.key === 'k1').map(uidOf)).toEqual([1, 3]);
  });

  it('pruneKeys deletes the counters of keys with nothing pending or dead; a pruned key starts again, in order', async () => {
    db = await createTestOutbox(database, { prefix: 'walkprune', dialect: { ordering: 'key' } });
    await db.add([
      { topic: 't', key: 'done', payload: { u: 1 } },
      { topic: 't', key: 'done', payload: { u: 2 } },
      { topic: 't', key: 'waiting', payload: { u: 3 } },
      { topic: 't', key: 'failed', payload: { u: 4 } },
    ]);
    await db.store.transaction(async (tx) => {
      const batch = await db!.store.claim(tx, 10);
      const byUid = new Map(batch.map((m) => [uidOf(m), m.id]));
      await db!.store.complete(tx, [
        { id: byUid.get(1)!, status: 'sent' },
        { id: byUid.get(4)!, status: 'dead', error: 'unroutable' },
      ]);
    });
    // `done` still has its second message pending: nothing to prune yet.
    expect(await db.store.pruneKeys()).toBe(0);
    await db.store.transaction(async (tx) => {
      const batch = await db!.store.claim(tx, 10);
      expect(batch.map(uidOf).sort()).toEqual([2, 3]);
      await db!.store.markSent(
        tx,
        batch.filter((m) => m.key === 'done').map((m) => m.id),
      );
    });
    const progress: number[] = [];
    expect(await db.store.pruneKeys({ batchSize: 1, onProgress: (n) => progress.push(n) })).toBe(1);
    expect(progress).toEqual([1]);
    const counters = await db.sql<{ key: string }>(
      `SELECT ${database.name === 'postgres' ? 'key' : '`key`'} AS k FROM ${database.qualify(db.namespace, 'outbox_messages_keys')} ORDER BY 1`,
    );
    expect(counters.map((r) => (r as unknown as { k: string }).k)).toEqual(['failed', 'waiting']);
    // The key comes back: its counter starts again and its messages still go in order.
    await db.add([
      { topic: 't', key: 'done', payload: { u: 5 } },
      { topic: 't', key: 'done', payload: { u: 6 } },
    ]);
    const sender = scriptedSender();
    await createRelay({ store: db.store, sender, batchSize: 10 }).runOnce();
    expect(sender.deliveries.filter((m) => m.key === 'done').map(uidOf)).toEqual([5, 6]);
    // `done` and `waiting` have nothing left; `failed` keeps its counter for its dead letter.
    expect(await db.store.pruneKeys()).toBe(2);
    await expect(db.store.pruneKeys({ batchSize: 0 })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
  });

  it('startPruning prunes the key counters of an ordered table after its sent messages', async () => {
    db = await createTestOutbox(database, { prefix: 'walkjob', dialect: { ordering: 'key' } });
    await db.add(Array.from({ length: 6 }, (_, i) => ({ topic: 't', key: `k${i % 3}`, payload: { u: i } })));
    await createRelay({ store: db.store, sender: scriptedSender(), batchSize: 10 }).runOnce();
    const counters = database.qualify(db.namespace, 'outbox_messages_keys');
    expect(await db.count()).toBe(6);
    const job = startPruning(db.store, { olderThanMs: 0, intervalMs: 20 });
    try {
      await waitFor(
        async () => {
          const [row] = await db!.sql<{ n: unknown }>(`SELECT COUNT(*) AS n FROM ${counters}`);
          return Number(row!.n) === 0 && (await db!.count()) === 0;
        },
        { message: 'sent messages and idle key counters pruned' },
      );
    } finally {
      await job.stop();
    }
  });

  it('pruneKeys keeps a counter that a producer bumps while it runs', async () => {
    db = await createTestOutbox(database, { prefix: 'walkrace', dialect: { ordering: 'key' } });
    await db.add([{ topic: 't', key: 'k', payload: { u: 1 } }]);
    await db.store.transaction(async (tx) => {
      const batch = await db!.store.claim(tx, 10);
      await db!.store.markSent(
        tx,
        batch.map((m) => m.id),
      );
    });
    // A producer adds to key k and holds its counter, uncommitted; pruneKeys has read k as idle
    // and its delete waits for the producer.
    const producer = db.newStore({ connections: 1 });
    const added = gate();
    const commit = gate();
    const producing = producer.store.db.transaction(async (tx) => {
      await producer.store.add(tx, { topic: 't', key: 'k', payload: { u: 2 } });
      added.open();
      await commit.promise;
    });
    await added.promise;
    const pruning = db.store.pruneKeys();
    let settled: string | undefined;
    pruning.then(
      (n) => (settled = `resolved with ${n}`),
      (e) => (settled = `rejected: ${String(e)}`),
    );
    await waitFor(async () => (await lockWaits(db!)) > 0 || settled, {
      message: "pruneKeys' delete waiting",
    });
    expect(settled, 'pruneKeys finished without waiting for the producer').toBeUndefined();
    commit.open();
    await producing;
    expect(await pruning).toBe(0);
    const sender = scriptedSender();
    await createRelay({ store: db.store, sender, batchSize: 10 }).runOnce();
    expect(sender.deliveries.map(uidOf)).toEqual([2]);
  });
});

/**
 * Statements on this test's tables waiting for a row lock right now. MariaDB leaves a waiting
 * statement out of INNODB_TRX under load, so there it is a DELETE still running: the only thing
 * a one-row DELETE can be doing for long is waiting for the row.
 */
async function lockWaits(db: TestOutbox): Promise<number> {
  const sql =
    db.database.name === 'postgres'
      ? "SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE ?"
      : "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE COMMAND = 'Query' AND INFO LIKE ?";
  const pattern = db.database.name === 'postgres' ? `%${db.namespace}%` : `DELETE FROM %${db.namespace}%`;
  const [row] = await db.sql<{ n: unknown }>(sql, [pattern]);
  return Number(row!.n);
}
