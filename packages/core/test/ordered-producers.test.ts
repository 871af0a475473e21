// Ordered producers on MySQL run two statements (the key counters, then the messages). Through a
// bare mysql2 connection, which cannot tell beforehand whether it is in a transaction, the write
// is refused after the first statement when the server says it ran in autocommit: without a
// transaction the counters would not stay locked until the commit, and concurrent producers of
// one key would get the same seqs. The refused write leaves its counter bump behind (a gap in
// the key's seqs), which the ordered claim must step over.
import type mysqlDriver from 'mysql2/promise';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createOutbox,
  createRelay,
  isOutboxError,
  mysql2Connection,
  type NewMessage,
  payloadJson,
} from '../src/index.js';
import { waitFor } from '../src/testing/index.js';
import { databaseNamed } from './databases.js';
import { createTestOutbox, scriptedSender, type TestOutbox } from './helpers.js';

const database = databaseNamed('mysql');
const PRODUCERS = 8;

let db: TestOutbox | undefined;
afterEach(async () => {
  await db?.close();
  db = undefined;
});

/** Three messages in two keys, `a` twice: both counters and the order within a write are used. */
const batchOf = (producer: number, round: string): NewMessage[] => [
  { topic: 't', key: 'a', payload: { producer, round, n: 1 } },
  { topic: 't', key: 'b', payload: { producer, round, n: 1 } },
  { topic: 't', key: 'a', payload: { producer, round, n: 2 } },
];

/** `seqs` sorted are one run of consecutive numbers, each once. */
function expectConsecutive(seqs: number[], what: string): void {
  const sorted = [...seqs].sort((x, y) => x - y);
  expect(sorted, what).toEqual(sorted.map((_, i) => sorted[0]! + i));
}

async function seqsByKey(t: TestOutbox): Promise<Map<string, number[]>> {
  const rows = await t.sql<{ key: string; seq: unknown }>('SELECT `key`, seq FROM $table ORDER BY id');
  const byKey = new Map<string, number[]>();
  for (const r of rows) byKey.set(r.key, [...(byKey.get(r.key) ?? []), Number(r.seq)]);
  return byKey;
}

/** Run `write` on `PRODUCERS` connections of their own at once; settle every one. */
async function concurrently<T>(
  t: TestOutbox,
  write: (conn: mysqlDriver.PoolConnection, producer: number) => Promise<T>,
): Promise<PromiseSettledResult<T>[]> {
  const pool = t.newStore({ connections: PRODUCERS }).pool.driver as mysqlDriver.Pool;
  const conns = await Promise.all(Array.from({ length: PRODUCERS }, () => pool.getConnection()));
  try {
    return await Promise.allSettled(conns.map((conn, i) => write(conn, i)));
  } finally {
    for (const conn of conns) conn.release();
  }
}

describe('ordered producers on MariaDB through a bare mysql2 connection', () => {
  it('8 concurrent producers without BEGIN are each refused with NOT_IN_TRANSACTION and write nothing; the next transactional writes get unique consecutive seqs', async () => {
    db = await createTestOutbox(database, { prefix: 'ordprod', dialect: { ordering: 'key' } });
    const outbox = createOutbox({ dialect: db.dialect });

    const refused = await concurrently(db, (conn, i) =>
      outbox.add(mysql2Connection(conn), batchOf(i, 'bare')),
    );
    for (const r of refused) {
      expect(r.status).toBe('rejected');
      const reason = (r as PromiseRejectedResult).reason;
      expect(isOutboxError(reason, 'NOT_IN_TRANSACTION'), String(reason)).toBe(true);
    }
    expect(await db.count()).toBe(0);

    const written = await concurrently(db, async (conn, i) => {
      await conn.beginTransaction();
      await outbox.add(mysql2Connection(conn), batchOf(i, 'tx'));
      await conn.commit();
    });
    expect(written.map((r) => r.status)).toEqual(Array(PRODUCERS).fill('fulfilled'));
    const seqs = await seqsByKey(db);
    expect(seqs.get('a')).toHaveLength(2 * PRODUCERS);
    expect(seqs.get('b')).toHaveLength(PRODUCERS);
    expectConsecutive(seqs.get('a')!, 'seqs of key a');
    expectConsecutive(seqs.get('b')!, 'seqs of key b');
    // Within one write, its two messages of `a` are consecutive and in call order.
    const rows = await db.sql<{ payload: string; seq: unknown }>(
      "SELECT CAST(payload AS CHAR) AS payload, seq FROM $table WHERE `key` = 'a'",
    );
    const byProducer = new Map<number, number[]>();
    for (const r of rows) {
      const p = JSON.parse(r.payload) as { producer: number; n: number };
      const list = byProducer.get(p.producer) ?? [];
      list[p.n - 1] = Number(r.seq);
      byProducer.set(p.producer, list);
    }
    for (const [first, second] of byProducer.values()) expect(second).toBe(first! + 1);
  });

  it('8 concurrent producers inside BEGIN all write, with unique consecutive seqs per key', async () => {
    db = await createTestOutbox(database, { prefix: 'ordprod', dialect: { ordering: 'key' } });
    const outbox = createOutbox({ dialect: db.dialect });
    const written = await concurrently(db, async (conn, i) => {
      await conn.beginTransaction();
      const n = await outbox.add(mysql2Connection(conn), batchOf(i, 'tx'));
      await conn.commit();
      return n;
    });
    expect(written.map((r) => (r.status === 'fulfilled' ? r.value : r.reason))).toEqual(
      Array(PRODUCERS).fill(3),
    );
    const seqs = await seqsByKey(db);
    expect(seqs.get('a')!.sort((x, y) => x - y)).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
    expect(seqs.get('b')!.sort((x, y) => x - y)).toEqual(Array.from({ length: 8 }, (_, i) => i + 1));
  });

  it("the gap a refused write leaves in a key's seqs is harmless: messages written before and after it are all delivered, in commit order", async () => {
    db = await createTestOutbox(database, { prefix: 'ordgap', dialect: { ordering: 'key' } });
    const outbox = createOutbox({ dialect: db.dialect });
    const pool = db.newStore({ connections: 2 }).pool.driver as mysqlDriver.Pool;
    const conn = await pool.getConnection();
    const committed: number[] = [];
    let u = 0;
    const write = async (count: number, inTransaction: boolean) => {
      const batch = Array.from({ length: count }, () => ({ topic: 't', key: 'k', payload: { u: u++ } }));
      if (!inTransaction) return outbox.add(mysql2Connection(conn), batch);
      await conn.beginTransaction();
      await outbox.add(mysql2Connection(conn), batch);
      await conn.commit();
      committed.push(...batch.map((m) => m.payload.u));
      return batch.length;
    };
    try {
      await write(5, true);
      // Refused after its counter statement, which committed on its own: seqs 6–9 are skipped.
      const error = await write(4, false).catch((e: unknown) => e);
      expect(isOutboxError(error, 'NOT_IN_TRANSACTION'), String(error)).toBe(true);
      await write(5, true);
      const error2 = await write(2, false).catch((e: unknown) => e);
      expect(isOutboxError(error2, 'NOT_IN_TRANSACTION'), String(error2)).toBe(true);
      await write(5, true);
    } finally {
      conn.release();
    }
    const seqs = (await seqsByKey(db)).get('k')!;
    expect(seqs).toEqual([1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 17, 18, 19, 20, 21]);

    const sender = scriptedSender();
    // Small batches, so that claims start before, inside and after each gap.
    const relay = createRelay({ store: db.store, sender, batchSize: 3, pollIntervalMs: 10, listen: false });
    await relay.start();
    try {
      await waitFor(async () => (await db!.store.stats()).sent === committed.length, {
        message: 'every committed message sent',
      });
    } finally {
      await relay.stop();
    }
    expect(sender.deliveries.map((m) => payloadJson<{ u: number }>(m).u)).toEqual(committed);
  });
});
