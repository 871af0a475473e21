import { createRelay, isOutboxError, type NewMessage, payloadJson } from '@troutbox/core';
import { recordingSender, waitFor } from '@troutbox/core/testing';
import { type Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databases, type TestDatabase } from './databases.test-support.js';
import { type KyselyOutbox, kyselyOutbox } from './index.js';

interface Database {
  orders: { id: string; item: string };
}

class BusinessFailure extends Error {}

describe.each(databases)('addMessage in Kysely transactions on $label', (database) => {
  let t: TestDatabase;
  let root: Kysely<Database>;
  // The business tables live in the test's schema (database on MySQL); the outbox table too.
  let db: Kysely<Database>;
  let outbox: KyselyOutbox;
  let store: ReturnType<KyselyOutbox['store']>;
  let nextOrder = 0;
  const orderId = () => `o-${++nextOrder}`;

  beforeAll(async () => {
    t = await database.open('kyadd', { connections: 6 });
    root = t.db as Kysely<Database>;
    db = root.withSchema(t.schema);
    outbox = kyselyOutbox({ dialect: database.dialect, schema: t.schema });
    store = outbox.store(root);
    await store.migrate();
    await db.schema
      .createTable('orders')
      .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('item', 'varchar(64)', (c) => c.notNull())
      .execute();
  });
  afterAll(async () => {
    await t?.close();
  });

  const orderCount = async (item: string) =>
    Number(
      (
        await db
          .selectFrom('orders')
          .select((eb) => eb.fn.countAll().as('n'))
          .where('item', '=', item)
          .executeTakeFirstOrThrow()
      ).n,
    );
  const pendingTopics = async (topic: string) =>
    (await store.list({ status: 'pending', topic, limit: 100_000 })).map((m) => m.topic);

  /** Deliver everything pending with a relay, and return what the sender saw. */
  async function deliver() {
    const sender = recordingSender();
    const relay = createRelay({ store, sender, batchSize: 500 });
    await relay.runOnce();
    return sender.deliveries;
  }

  it('transaction().execute: a commit writes the business row and delivers the message', async () => {
    const id = orderId();
    await db.transaction().execute(async (trx) => {
      await trx.insertInto('orders').values({ id, item: 'trout' }).execute();
      expect(
        await outbox.addMessage(trx, {
          topic: 'orders.committed',
          key: id,
          payload: { type: 'OrderPlaced', id },
        }),
      ).toBe(1);
    });
    expect(await orderCount('trout')).toBe(1);
    const delivered = (await deliver()).filter((m) => m.topic.startsWith('orders.'));
    expect(delivered.map((m) => [m.topic, m.key])).toEqual([['orders.committed', id]]);
    expect(payloadJson(delivered[0]!)).toEqual({ type: 'OrderPlaced', id });
    expect(await pendingTopics('orders.committed')).toEqual([]);
  });

  it('transaction().execute: an error thrown inside rolls back both', async () => {
    await expect(
      db.transaction().execute(async (trx) => {
        await trx.insertInto('orders').values({ id: orderId(), item: 'salmon' }).execute();
        await outbox.addMessage(trx, { topic: 'orders.rolled-back', payload: { item: 'salmon' } });
        throw new BusinessFailure('payment declined');
      }),
    ).rejects.toBeInstanceOf(BusinessFailure);
    expect(await orderCount('salmon')).toBe(0);
    expect(await pendingTopics('orders.rolled-back')).toEqual([]);
    expect((await deliver()).filter((m) => m.topic === 'orders.rolled-back')).toEqual([]);
  });

  it('a message the database refuses rolls back the business write too', async () => {
    await db.schema
      .alterTable('outbox_messages')
      .addCheckConstraint('no_refused_topic', sql`topic <> 'refused'`)
      .execute();
    try {
      await expect(
        db.transaction().execute(async (trx) => {
          await trx.insertInto('orders').values({ id: orderId(), item: 'pike' }).execute();
          await outbox.addMessage(trx, { topic: 'refused', payload: 1 });
        }),
      ).rejects.toThrow(/no_refused_topic/);
      expect(await orderCount('pike')).toBe(0);
    } finally {
      await db.schema.alterTable('outbox_messages').dropConstraint('no_refused_topic').execute();
    }
  });

  it('controlled transaction: commit delivers both', async () => {
    const trx = await db.startTransaction().execute();
    await trx.insertInto('orders').values({ id: orderId(), item: 'char' }).execute();
    await outbox.addMessage(trx, [
      { topic: 'ctl.committed', key: 'char', payload: { n: 1 } },
      { topic: 'ctl.committed', key: 'char', payload: { n: 2 } },
    ]);
    // Not visible outside before the commit.
    expect(await pendingTopics('ctl.committed')).toEqual([]);
    await trx.commit().execute();
    expect(await orderCount('char')).toBe(1);
    const delivered = (await deliver()).filter((m) => m.topic === 'ctl.committed');
    expect(delivered.map((m) => payloadJson(m))).toEqual([{ n: 1 }, { n: 2 }]);
  });

  it('controlled transaction: rollback drops both', async () => {
    const trx = await db.startTransaction().execute();
    await trx.insertInto('orders').values({ id: orderId(), item: 'carp' }).execute();
    await outbox.addMessage(trx, { topic: 'ctl.rolled-back', payload: 1 });
    await trx.rollback().execute();
    expect(await orderCount('carp')).toBe(0);
    expect(await pendingTopics('ctl.rolled-back')).toEqual([]);
  });

  it('controlled transaction: a savepoint rolled back drops only its own message', async () => {
    const trx = await db.startTransaction().execute();
    await outbox.addMessage(trx, { topic: 'sp.kept', payload: 1 });
    const sp = await trx.savepoint('before_extra').execute();
    await outbox.addMessage(sp, { topic: 'sp.dropped', payload: 2 });
    await sp.rollbackToSavepoint('before_extra').execute();
    await trx.commit().execute();
    expect(await pendingTopics('sp.kept')).toEqual(['sp.kept']);
    expect(await pendingTopics('sp.dropped')).toEqual([]);
    await deliver();
  });

  it('a started relay delivers what a Kysely transaction committed', async () => {
    const sender = recordingSender();
    const relay = createRelay({ store, sender, pollIntervalMs: 20 });
    await relay.start();
    try {
      await db.transaction().execute(async (trx) => {
        await trx.insertInto('orders').values({ id: orderId(), item: 'perch' }).execute();
        await outbox.addMessage(trx, { topic: 'relay.live', key: 'perch', payload: { item: 'perch' } });
      });
      const seen = await waitFor(() => sender.deliveries.find((m) => m.topic === 'relay.live'), {
        timeoutMs: 10_000,
        message: 'the relay to deliver relay.live',
      });
      expect(seen.key).toBe('perch');
    } finally {
      await relay.stop();
    }
    await waitFor(async () => (await pendingTopics('relay.live')).length === 0, { timeoutMs: 10_000 });
  });

  it('with autocommit: true, more messages than one statement holds are still one atomic write on a plain Kysely', async () => {
    // Refused by default (see transaction-guard.test.ts); the opt-in gets a transaction of its own.
    const autocommit = kyselyOutbox({ dialect: database.dialect, schema: t.schema, autocommit: true });
    const max = outbox.dialect.maxRowsPerInsert;
    const many: NewMessage[] = Array.from({ length: max }, (_, i) => ({ topic: 'atomic.bulk', payload: i }));
    await db.schema
      .alterTable('outbox_messages')
      .addCheckConstraint('no_poison_topic', sql`topic <> 'atomic.poison'`)
      .execute();
    try {
      // The second statement fails at the database: the first must not stay committed.
      await expect(
        autocommit.addMessage(root, [...many, { topic: 'atomic.poison', payload: 0 }]),
      ).rejects.toThrow(/no_poison_topic/);
      expect(await pendingTopics('atomic.bulk')).toEqual([]);
    } finally {
      await db.schema.alterTable('outbox_messages').dropConstraint('no_poison_topic').execute();
    }
    expect(await autocommit.addMessage(root, [...many, { topic: 'atomic.bulk', payload: 'last' }])).toBe(
      max + 1,
    );
    expect(await pendingTopics('atomic.bulk')).toHaveLength(max + 1);
    // runOnce goes on while batches come back full.
    expect((await deliver()).filter((m) => m.topic === 'atomic.bulk')).toHaveLength(max + 1);
  });

  it('an invalid message throws a typed error and the transaction writes nothing', async () => {
    const error = await db
      .transaction()
      .execute(async (trx) => {
        await trx.insertInto('orders').values({ id: orderId(), item: 'eel' }).execute();
        await outbox.addMessage(trx, [
          { topic: 'invalid.before', payload: 1 },
          { topic: '', payload: 2 },
        ]);
      })
      .catch((e: unknown) => e);
    expect(isOutboxError(error, 'INVALID_MESSAGE')).toBe(true);
    expect(await orderCount('eel')).toBe(0);
    expect(await pendingTopics('invalid.before')).toEqual([]);
  });

  it('rejects what is not a Kysely handle, before anything is written', async () => {
    const builder = db.transaction();
    const error = await outbox.addMessage(builder as never, { topic: 't', payload: 1 }).catch((e) => e);
    expect(isOutboxError(error, 'INVALID_OPTION')).toBe(true);
    expect((error as Error).message).toMatch(/builder/);
    const pool = await outbox.addMessage({} as never, { topic: 't', payload: 1 }).catch((e) => e);
    expect(isOutboxError(pool, 'INVALID_OPTION')).toBe(true);
  });

  it('onAdd is told how many messages each write carried', async () => {
    const counts: number[] = [];
    const watched = kyselyOutbox({
      dialect: database.dialect,
      schema: t.schema,
      onAdd: (n) => counts.push(n),
    });
    await root.transaction().execute(async (trx) => {
      await watched.addMessage(trx, { topic: 'watched', payload: 1 });
      await watched.addMessage(trx, [
        { topic: 'watched', payload: 2 },
        { topic: 'watched', payload: 3 },
      ]);
    });
    expect(counts).toEqual([1, 2]);
    await deliver();
  });
});
