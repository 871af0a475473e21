import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isOutboxError, mysqlDateTime, SqlMessageStore, startPruning } from '../src/index.js';
import { waitFor } from '../src/testing/index.js';
import { countStatements, createTestOutbox, databases, type TestOutbox } from './helpers.js';

// Retention of the plain table and the admin queries the CLI uses, on PostgreSQL and MariaDB.

const HOUR = 3_600_000;

describe.each(databases)('admin queries and retention on $label', (database) => {
  let o: TestOutbox;
  beforeEach(async () => {
    o = await createTestOutbox(database, { prefix: 'admin' });
  });
  afterEach(async () => {
    await o.close();
  });

  const timestamp = (date: Date) => (database.name === 'postgres' ? date : mysqlDateTime(date));

  /** Add `n` messages on `topic` and give them `status`; returns their ids in order. */
  async function messages(n: number, status: 'pending' | 'sent' | 'dead', topic = 't'): Promise<string[]> {
    await o.add(Array.from({ length: n }, (_, i) => ({ topic, payload: { i } })));
    const ids = await o.ids(`topic = '${topic}' AND status = 'pending'`);
    if (status === 'pending') return ids;
    await o.store.transaction(async (tx) => {
      const claimed = await o.store.claim(tx, 10_000);
      await o.store.complete(
        tx,
        claimed
          .filter((m) => ids.includes(m.id))
          .map((m) =>
            status === 'sent'
              ? { id: m.id, status: 'sent' as const }
              : { id: m.id, status: 'dead' as const, error: 'x' },
          ),
      );
    });
    return ids;
  }

  async function backdate(ids: readonly string[], column: 'sent_at' | 'created_at', ms: number) {
    const at = new Date((await o.now()) - ms);
    for (const id of ids) await o.sql(`UPDATE $table SET ${column} = ? WHERE id = ?`, [timestamp(at), id]);
  }

  it('pruneSent deletes only sent messages older than the bound, in bounded batches', async () => {
    const oldSent = await messages(7, 'sent', 'old');
    const newSent = await messages(2, 'sent', 'new');
    const oldDead = await messages(2, 'dead', 'dead');
    const oldPending = await messages(2, 'pending', 'waiting');
    await backdate(oldSent, 'sent_at', 3 * HOUR);
    await backdate([...oldDead, ...oldPending, ...oldSent], 'created_at', 3 * HOUR);

    const counted = countStatements(o.store.db);
    const store = new SqlMessageStore({ dialect: o.dialect, db: { ...o.store.db, query: counted.query } });
    const progress: number[] = [];
    const deleted = await store.pruneSent({
      olderThanMs: 2 * HOUR,
      batchSize: 3,
      onProgress: (n) => progress.push(n),
    });
    expect(deleted).toBe(7);
    expect(progress).toEqual([3, 6, 7]);
    const deletes = counted.statements.filter((s) => /^\s*DELETE/i.test(s));
    expect(deletes).toHaveLength(3);
    for (const sql of deletes) expect(sql).toMatch(/LIMIT/);

    expect(await o.ids()).toEqual([...newSent, ...oldDead, ...oldPending]);
    // maxBatches bounds one run; an absolute bound works too.
    await backdate(newSent, 'sent_at', 3 * HOUR);
    expect(
      await o.store.pruneSent({ olderThan: new Date((await o.now()) - HOUR), batchSize: 1, maxBatches: 1 }),
    ).toBe(1);
    expect(await o.store.pruneSent({ olderThanMs: HOUR })).toBe(1);
    expect(await o.count("status = 'sent'")).toBe(0);
    expect(await o.count()).toBe(4);
  });

  it('pruneSent checks its options before deleting anything', async () => {
    await messages(1, 'sent');
    for (const bad of [
      {},
      { olderThan: new Date(), olderThanMs: 1 },
      { olderThanMs: -1 },
      { olderThanMs: 1, batchSize: 0 },
      { olderThan: new Date('x') },
    ]) {
      await expect(o.store.pruneSent(bad as never), JSON.stringify(bad)).rejects.toSatisfy((e) =>
        isOutboxError(e, 'INVALID_OPTION'),
      );
    }
    expect(await o.count()).toBe(1);
  });

  it('startPruning prunes on an interval until stopped', async () => {
    const ids = await messages(5, 'sent');
    const runs: number[] = [];
    const job = startPruning(o.store, {
      olderThanMs: 0,
      batchSize: 2,
      intervalMs: 20,
      onRun: (n) => runs.push(n),
    });
    await waitFor(async () => (await o.count()) === 0, { message: 'pruned' });
    await job.stop();
    // A run in the same instant as the sends may find nothing older yet; across runs, each
    // sent message is pruned exactly once.
    expect(runs.reduce((a, b) => a + b, 0)).toBe(ids.length);
    expect(runs.length).toBeGreaterThanOrEqual(1);
    expect(() => startPruning(o.store, { olderThanMs: -5, intervalMs: 10 })).toThrow(/olderThanMs/);
  });

  it('count returns the number and the largest id, and maxId bounds a bulk requeue and purge', async () => {
    const first = await messages(3, 'dead', 'a');
    const counted = await o.store.count('dead', { topic: 'a' });
    expect(counted).toEqual({ count: 3, maxId: first.at(-1) });
    // Dead letters that arrive after the count are not touched by the change it confirmed.
    const later = await messages(2, 'dead', 'a');
    expect(await o.store.requeueDead({ all: true, topic: 'a', maxId: counted.maxId! })).toBe(3);
    expect(await o.store.count('dead')).toEqual({ count: 2, maxId: later.at(-1) });
    expect(await o.store.count('pending', { maxId: first[1]! })).toEqual({ count: 2, maxId: first[1] });
    expect(await o.store.purge('dead', { all: true, maxId: later[0]! })).toBe(1);
    expect(await o.store.count('dead')).toEqual({ count: 1, maxId: later[1] });
    expect(await o.store.count('sent')).toEqual({ count: 0, maxId: null });
    await expect(o.store.count('dead', { maxId: '1 OR 1=1' })).rejects.toSatisfy((e) =>
      isOutboxError(e, 'INVALID_OPTION'),
    );
    await expect(o.store.count('lost' as never)).rejects.toSatisfy((e) => isOutboxError(e, 'INVALID_OPTION'));
  });

  it('sentCounts counts sends within each window by the database clock', async () => {
    const [a, b, c] = await messages(3, 'sent');
    await backdate([b!], 'sent_at', 30 * 60_000);
    await backdate([c!], 'sent_at', 2 * HOUR);
    const before = await o.now();
    const { now, counts } = await o.store.sentCounts();
    expect(counts).toEqual([1, 2]);
    expect(now.getTime()).toBeGreaterThanOrEqual(before - 1000);
    expect((await o.store.sentCounts([3 * HOUR, 60_000, 45 * 60_000])).counts).toEqual([3, 1, 2]);
    expect(a).toBeDefined();
    await expect(o.store.sentCounts([])).rejects.toSatisfy((e) => isOutboxError(e, 'INVALID_OPTION'));
  });

  it('tableStatus tells a missing table from a migrated one; now() is the database clock', async () => {
    expect(await o.store.tableStatus()).toEqual({ exists: true, partitioned: false, version: 2, latest: 2 });
    const missing = o.storeFor('not_there');
    expect(await missing.tableStatus()).toEqual({
      exists: false,
      partitioned: false,
      version: null,
      latest: 2,
    });
    const clock = await o.now();
    expect(Math.abs((await o.store.now()).getTime() - clock)).toBeLessThan(5000);
  });

  it('get, stats and count on a missing table fail with STORE_FAILED', async () => {
    const missing = o.storeFor('not_there');
    for (const call of [() => missing.get('1'), () => missing.stats(), () => missing.count('dead')]) {
      await expect(call()).rejects.toSatisfy(
        (e) => isOutboxError(e, 'STORE_FAILED') && (e as { cause?: unknown }).cause !== undefined,
      );
    }
  });

  it('partitions are a PostgreSQL feature', async () => {
    if (database.name === 'postgres') {
      expect(await o.store.partitions()).toMatchObject({ partitioned: false, partitions: [] });
    } else {
      await expect(o.store.partitions()).rejects.toSatisfy((e) => isOutboxError(e, 'INVALID_OPTION'));
      await expect(o.store.maintainPartitions({ lockId: 1 })).rejects.toSatisfy((e) =>
        isOutboxError(e, 'INVALID_OPTION'),
      );
    }
  });
});
