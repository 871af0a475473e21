import {
  createOutbox,
  createRelay,
  isOutboxError,
  mysql,
  type OutboxMessage,
  payloadJson,
  postgres,
  SqlMessageStore,
} from '@troutbox/core';
import { recordingSender, waitFor } from '@troutbox/core/testing';
import { count, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMessage, drizzleExecutor, mysqlOutboxTable, outboxTable } from './index.js';
import { concurrentDrivers, drivers, type TestDatabase } from './test/databases.js';

class BusinessFailure extends Error {}

describe.each(drivers)('drizzle transactions (%s)', (_name, open) => {
  let t: TestDatabase;
  let ns: string;
  let orders: any;
  let outbox: any;
  let store: SqlMessageStore;

  beforeAll(async () => {
    t = await open();
    ns = await t.namespace('drz_tx');
    outbox = t.outbox(ns);
    store = new SqlMessageStore({ dialect: t.dialect(ns), db: drizzleExecutor(t.db) });
    await store.migrate();
    orders = await t.orders(ns);
  });
  afterAll(async () => {
    await t?.close();
  });

  async function placeOrder(id: string, total: number, fail = false) {
    await t.db.transaction(async (tx: any) => {
      await tx.insert(orders).values({ id, total });
      await addMessage(
        tx,
        { topic: 'orders', key: id, payload: { type: 'OrderPlaced', id, total } },
        t.options(ns),
      );
      if (fail) throw new BusinessFailure(`order ${id} failed`);
    });
  }

  it('commit: the order and its message both land, and the relay delivers the message', async () => {
    await placeOrder('o-1', 42);
    const sender = recordingSender();
    const relay = createRelay({ store, sender, pollIntervalMs: 20 });
    await relay.start();
    try {
      await waitFor(() => sender.sentIds.length === 1, { message: 'the order message to be sent' });
    } finally {
      await relay.stop();
    }
    const [message] = sender.deliveries as OutboxMessage[];
    expect(message).toMatchObject({ topic: 'orders', key: 'o-1', contentType: 'application/json' });
    expect(payloadJson(message!)).toEqual({ type: 'OrderPlaced', id: 'o-1', total: 42 });
    expect(await t.db.select().from(orders).where(eq(orders.id, 'o-1'))).toEqual([{ id: 'o-1', total: 42 }]);
    expect((await store.stats()).sent).toBe(1);
  });

  it('an error thrown inside the transaction rolls back both the order and its message', async () => {
    await expect(placeOrder('o-2', 7, true)).rejects.toBeInstanceOf(BusinessFailure);
    expect(await t.db.select().from(orders).where(eq(orders.id, 'o-2'))).toEqual([]);
    const [{ n }] = (await t.db.select({ n: count() }).from(outbox).where(eq(outbox.key, 'o-2'))) as [
      { n: number },
    ];
    expect(n).toBe(0);
    const relay = createRelay({ store, sender: recordingSender() });
    expect(await relay.runOnce()).toMatchObject({ sent: 0 });
  });

  it('a savepoint rolled back drops only its own messages', async () => {
    await t.db.transaction(async (tx: any) => {
      await addMessage(tx, { topic: 'sp-kept', payload: 1 }, t.options(ns));
      await expect(
        tx.transaction(async (sp: any) => {
          await addMessage(sp, [{ topic: 'sp-dropped', payload: 2 }], t.options(ns));
          throw new BusinessFailure('inner');
        }),
      ).rejects.toBeInstanceOf(BusinessFailure);
    });
    const rows = await t.db
      .select({ topic: outbox.topic })
      .from(outbox)
      .where(sql`${outbox.topic} LIKE 'sp-%'`);
    expect(rows).toEqual([{ topic: 'sp-kept' }]);
    await t.db.delete(outbox).where(sql`${outbox.topic} LIKE 'sp-%'`);
  });

  it('many messages go in one statement; a core outbox passed as option wakes its relay', async () => {
    let added = 0;
    const own = createOutbox({ dialect: t.dialect(ns), onAdd: (n) => (added += n) });
    const messages = Array.from({ length: 300 }, (_, i) => ({
      topic: 'bulk',
      key: `k${i % 3}`,
      payload: { i },
    }));
    expect(await t.db.transaction((tx: any) => addMessage(tx, messages, { outbox: own }))).toBe(300);
    expect(added).toBe(300);
    const relay = createRelay({ store, sender: recordingSender(), batchSize: 500 });
    expect(await relay.runOnce()).toMatchObject({ sent: 300 });
  });

  it('rejects an invalid message with an OutboxError and writes nothing of the call', async () => {
    const error = await t.db
      .transaction((tx: any) =>
        addMessage(
          tx,
          [
            { topic: 'fine', payload: 1 },
            { topic: '', payload: 2 },
          ],
          t.options(ns),
        ),
      )
      .catch((e: unknown) => e);
    expect(isOutboxError(error, 'INVALID_MESSAGE')).toBe(true);
    const [row] = await t.db.select({ n: count() }).from(outbox).where(eq(outbox.topic, 'fine'));
    expect(row!.n).toBe(0);
  });

  it('rejects a handle that is not a drizzle database, bad table names, and an outbox of the other database', async () => {
    const notDb = { query: async () => ({ rows: [] }), execute: async () => [], transaction: async () => {} };
    await expect(addMessage(notDb as never, { topic: 'x', payload: 1 })).rejects.toSatisfy((e) =>
      isOutboxError(e, 'INVALID_OPTION'),
    );
    expect(() => drizzleExecutor(notDb as never)).toThrow(/drizzle PostgreSQL or MySQL database/);
    await expect(
      addMessage(t.db, { topic: 'x', payload: 1 }, { table: 'outbox"; DROP TABLE x; --' }),
    ).rejects.toSatisfy((e) => isOutboxError(e, 'INVALID_IDENTIFIER'));
    expect(() => outboxTable({ schema: 'a b' })).toThrow(/plain SQL identifier/);
    expect(() => mysqlOutboxTable({ database: 'a`b' })).toThrow(/plain SQL identifier/);
    const other = createOutbox({ dialect: t.kind === 'postgres' ? mysql() : postgres() });
    await expect(addMessage(t.db, { topic: 'x', payload: 1 }, { outbox: other })).rejects.toSatisfy((e) =>
      isOutboxError(e, 'INVALID_OPTION'),
    );
  });

  it("drizzle's own insert and select on the table object round-trip through the relay", async () => {
    const payload = new TextEncoder().encode(JSON.stringify({ via: 'drizzle' }));
    const values = { topic: 'orm-insert', key: 'k', payload, headers: { traceparent: 'tp' } };
    // MySQL has no RETURNING: drizzle gives the auto-increment id, and a select the row.
    const [{ id }] =
      t.kind === 'postgres'
        ? await t.db.insert(outbox).values(values).returning({ id: outbox.id })
        : await t.db.insert(outbox).values(values).$returningId();
    const [inserted] = await t.db.select().from(outbox).where(eq(outbox.id, id));
    expect(typeof inserted!.id).toBe('bigint');
    expect(inserted).toMatchObject({ status: 'pending', attempts: 0, contentType: 'application/json' });
    expect(inserted!.createdAt).toBeInstanceOf(Date);
    // Both times come from the database's clock (UTC on MySQL), not far from this one's.
    expect(Math.abs(inserted!.createdAt.getTime() - Date.now())).toBeLessThan(60_000);
    expect(inserted!.availableAt.getTime()).toBe(inserted!.createdAt.getTime());
    const sender = recordingSender();
    await createRelay({ store, sender }).runOnce();
    const delivered = sender.deliveries.find((m) => m.topic === 'orm-insert')!;
    expect(delivered.id).toBe(String(inserted!.id));
    expect(delivered.headers).toEqual({ traceparent: 'tp' });
    expect(payloadJson(delivered)).toEqual({ via: 'drizzle' });
    const [read] = await t.db.select().from(outbox).where(eq(outbox.id, inserted!.id));
    expect(read!.status).toBe('sent');
    expect(read!.sentAt).toBeInstanceOf(Date);
    expect([...read!.payload]).toEqual([...payload]);
  });
});

// On one connection (PGlite) another session cannot look in while the transaction is open.
describe.each(concurrentDrivers)('drizzle transaction isolation (%s)', (_name, open) => {
  let t: TestDatabase;
  let ns: string;
  let outbox: any;

  beforeAll(async () => {
    t = await open();
    ns = await t.namespace('drz_iso');
    outbox = t.outbox(ns);
    await t.dialect(ns).migrate(drizzleExecutor(t.db));
  });
  afterAll(async () => {
    await t?.close();
  });

  it('writes in the transaction it is given: nothing is visible outside before the commit', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    let written!: () => void;
    const wrote = new Promise<void>((r) => {
      written = r;
    });
    const tx = t.db.transaction(async (tx: any) => {
      await addMessage(tx, { topic: 'visibility', payload: 1 }, t.options(ns));
      written();
      await held;
    });
    await wrote;
    const outside = await t.db.select({ n: count() }).from(outbox).where(eq(outbox.topic, 'visibility'));
    release();
    await tx;
    const after = await t.db.select({ n: count() }).from(outbox).where(eq(outbox.topic, 'visibility'));
    expect(outside[0]!.n).toBe(0);
    expect(after[0]!.n).toBe(1);
  });
});
