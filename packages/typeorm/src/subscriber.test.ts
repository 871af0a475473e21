import { createRelay, isOutboxError, payloadJson, SqlMessageStore } from '@troutbox/core';
import { recordingSender, uniqueName } from '@troutbox/core/testing';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { addMessage } from './add-message.js';
import { typeormExecutor } from './executor.js';
import { dialectFor } from './options.js';
import { hasOutboxMessages, OutboxSubscriber, outboxSubscriber } from './subscriber.js';
import {
  databases,
  Order,
  OrderSchema,
  outboxDialect,
  StatementLog,
  testDataSource,
} from './test-support.js';

class Boom extends Error {}

const TABLE = 'outbox';

describe.each(databases)('OutboxSubscriber and addMessage on $name', (db) => {
  const log = new StatementLog();
  const ns = uniqueName('typeorm');
  const outboxTable = outboxDialect(db, ns, TABLE).tableName;
  const orders = db.qualify(ns, 'orders');
  let dataSource: DataSource;
  let close: () => Promise<void>;
  let store: SqlMessageStore;

  beforeAll(async () => {
    ({ dataSource, close } = await testDataSource(db, {
      ns,
      entities: [OrderSchema],
      subscribers: [outboxSubscriber({ ...db.where(ns), table: TABLE })],
      logger: log,
    }));
    await dataSource.synchronize();
    store = new SqlMessageStore({ dialect: outboxDialect(db, ns, TABLE), db: typeormExecutor(dataSource) });
    await store.migrate();
  });
  afterAll(() => close?.());

  beforeEach(async () => {
    // Every test starts from an empty outbox and orders table.
    await dataSource.query(`TRUNCATE TABLE ${outboxTable}`);
    await dataSource.query(`TRUNCATE TABLE ${orders}`);
    log.clear();
  });

  const isOutboxInsert = (s: string) => s.startsWith(`INSERT INTO ${outboxTable}`);
  // TypeORM names the orders table with or without its namespace, quoted its database's way.
  const isOrderInsert = (s: string) => /^INSERT INTO \S*["`]orders["`]/.test(s);
  const outboxInserts = () => log.statements.filter(isOutboxInsert).length;
  const orderCount = async () => Number((await dataSource.query(`SELECT count(*) AS n FROM ${orders}`))[0].n);
  const pendingTopics = async () => (await store.list({ status: 'pending' })).map((m) => m.topic);

  async function deliver() {
    const sender = recordingSender();
    const relay = createRelay({ store, sender, batchSize: 100 });
    await relay.runOnce();
    return sender;
  }

  it('commits the business row and the entity message together, and the relay delivers it', async () => {
    const order = Order.create(42).record({ topic: 'orders', key: 'o-1', payload: { type: 'OrderPlaced' } });
    await dataSource.transaction(async (manager) => {
      await manager.save(order);
    });
    expect(await orderCount()).toBe(1);
    const sender = await deliver();
    expect(sender.deliveries.map((m) => [m.topic, m.key, payloadJson(m)])).toEqual([
      ['orders', 'o-1', { type: 'OrderPlaced' }],
    ]);
    expect(await pendingTopics()).toEqual([]);
  });

  it('an error thrown inside the transaction rolls back the row and the message', async () => {
    await expect(
      dataSource.transaction(async (manager) => {
        await manager.save(Order.create(1).record({ topic: 'never', payload: 1 }));
        await addMessage(manager, { topic: 'never-either', payload: 2 });
        throw new Boom('business rule failed');
      }),
    ).rejects.toBeInstanceOf(Boom);
    expect(await orderCount()).toBe(0);
    expect(await pendingTopics()).toEqual([]);
    expect(outboxInserts()).toBe(0);
    expect((await deliver()).deliveries).toEqual([]);
  });

  it('three entities saved in one transaction give one insert, inside the transaction', async () => {
    const orders = [1, 2, 3].map((i) => Order.create(i).record({ topic: `o${i}`, payload: { i } }));
    await dataSource.transaction(async (manager) => {
      for (const order of orders) await manager.save(order);
    });
    expect(outboxInserts()).toBe(1);
    const start = log.statements.indexOf('START TRANSACTION');
    const insert = log.statements.findIndex(isOutboxInsert);
    const commit = log.statements.indexOf('COMMIT');
    expect(start).toBeGreaterThanOrEqual(0);
    expect(start).toBeLessThan(insert);
    expect(insert).toBeLessThan(commit);
    // The last order's insert comes before the outbox insert: it is flushed at commit.
    const lastOrder = log.statements.findLastIndex(isOrderInsert);
    expect(lastOrder).toBeGreaterThanOrEqual(0);
    expect(lastOrder).toBeLessThan(insert);
    // …on the same connection as the transaction.
    expect(log.runners[insert]).toBe(log.runners[start]);
    expect(log.runners[commit]).toBe(log.runners[start]);
    expect((await pendingTopics()).sort()).toEqual(['o1', 'o2', 'o3']);
  });

  it('a save() without a transaction runs in TypeORM’s own transaction, with one insert', async () => {
    const orders = [1, 2, 3].map((i) => Order.create(i).record({ topic: `implicit${i}`, payload: i }));
    await dataSource.manager.save(orders);
    expect(outboxInserts()).toBe(1);
    const insert = log.statements.findIndex(isOutboxInsert);
    const start = log.statements.indexOf('START TRANSACTION');
    const commit = log.statements.indexOf('COMMIT');
    expect(start).toBeLessThan(insert);
    expect(commit).toBeGreaterThan(insert);
    // …on the connection of that transaction, not on one of its own.
    expect(log.runners[insert]).toBe(log.runners[start]);
    expect(log.runners[commit]).toBe(log.runners[start]);
    expect(await orderCount()).toBe(3);
    expect((await pendingTopics()).sort()).toEqual(['implicit1', 'implicit2', 'implicit3']);
  });

  it('a rolled-back subscriber transaction writes nothing', async () => {
    await expect(
      dataSource.transaction(async (manager) => {
        await manager.save([1, 2].map((i) => Order.create(i).record({ topic: 'rolled-back', payload: i })));
        throw new Boom('after the saves');
      }),
    ).rejects.toBeInstanceOf(Boom);
    expect(outboxInserts()).toBe(0);
    expect(await orderCount()).toBe(0);
    expect(await pendingTopics()).toEqual([]);
    // The next transaction on the pool starts clean: nothing left over from the rolled-back one.
    await dataSource.manager.save(Order.create(3).record({ topic: 'after', payload: 3 }));
    expect(await pendingTopics()).toEqual(['after']);
  });

  it('a savepoint rolled back drops only its own messages', async () => {
    await dataSource.transaction(async (manager) => {
      await manager.save(Order.create(1).record({ topic: 'outer-before', payload: 1 }));
      await expect(
        manager.transaction(async (nested) => {
          await nested.save(Order.create(2).record({ topic: 'nested-rolled-back', payload: 2 }));
          await nested.transaction(async (deeper) => {
            await deeper.save(Order.create(3).record({ topic: 'deeper-in-rolled-back', payload: 3 }));
          });
          throw new Boom('nested failure');
        }),
      ).rejects.toBeInstanceOf(Boom);
      await manager.transaction(async (nested) => {
        await nested.save(Order.create(4).record({ topic: 'nested-committed', payload: 4 }));
      });
      await manager.save(Order.create(5).record({ topic: 'outer-after', payload: 5 }));
    });
    expect(log.statements.some((s) => s.startsWith('ROLLBACK TO SAVEPOINT'))).toBe(true);
    expect(outboxInserts()).toBe(1);
    expect((await pendingTopics()).sort()).toEqual(['nested-committed', 'outer-after', 'outer-before']);
    const totals = await dataSource.query(`SELECT total FROM ${orders} ORDER BY total`);
    expect(totals.map((r: { total: number }) => r.total)).toEqual([1, 4, 5]);
  });

  it('keeps concurrent transactions apart: each commits or drops only its own messages', async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 24 }, (_, i) =>
        dataSource.transaction(async (manager) => {
          await manager.save(Order.create(i).record({ topic: `c${i}`, payload: i }));
          await manager.save(Order.create(100 + i).record({ topic: `c${i}`, payload: i }));
          if (i % 3 === 0) throw new Boom(`tx ${i}`);
        }),
      ),
    );
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(8);
    const expected = Array.from({ length: 24 }, (_, i) => i)
      .filter((i) => i % 3 !== 0)
      .flatMap((i) => [`c${i}`, `c${i}`]);
    expect((await pendingTopics()).sort()).toEqual(expected.sort());
    expect(outboxInserts()).toBe(16);
    expect(await orderCount()).toBe(32);
  });

  it('writes the messages of updates and removals', async () => {
    const order = await dataSource.manager.save(Order.create(7));
    expect(outboxInserts()).toBe(0);
    order.status = 'paid';
    await dataSource.manager.save(order.record({ topic: 'paid', key: String(order.id), payload: {} }));
    await dataSource.manager.remove(order.record({ topic: 'removed', payload: {} }));
    expect(await pendingTopics()).toEqual(['paid', 'removed']);
    expect(outboxInserts()).toBe(2);
  });

  it('an invalid message fails the save with a typed error and writes nothing', async () => {
    const error = await dataSource.manager
      .save(Order.create(1).record({ topic: '', payload: 1 }))
      .catch((e: unknown) => e);
    expect(isOutboxError(error, 'INVALID_MESSAGE')).toBe(true);
    expect(await orderCount()).toBe(0);
    expect(outboxInserts()).toBe(0);
  });

  it('addMessage writes in the transaction of the manager, in the subscriber’s table', async () => {
    await dataSource.transaction(async (manager) => {
      await manager.save(Order.create(9));
      expect(
        await addMessage(manager, [
          { topic: 'a', payload: 1 },
          { topic: 'b', payload: 2 },
        ]),
      ).toBe(2);
      // Not visible outside the transaction before it commits.
      expect(await pendingTopics()).toEqual([]);
    });
    expect(outboxInserts()).toBe(1);
    const sender = await deliver();
    expect(sender.deliveries.map((m) => m.topic)).toEqual(['a', 'b']);
  });

  it('addMessage and entity messages of one transaction keep call order, in one insert', async () => {
    await dataSource.transaction(async (manager) => {
      await addMessage(manager, { topic: 'first', key: 'k', payload: 1 });
      await manager.save(Order.create(1).record({ topic: 'second', key: 'k', payload: 2 }));
      await addMessage(manager, { topic: 'third', key: 'k', payload: 3 });
      await expect(
        manager.transaction(async (nested) => {
          await addMessage(nested, { topic: 'dropped', key: 'k', payload: 0 });
          throw new Boom('savepoint');
        }),
      ).rejects.toBeInstanceOf(Boom);
      await manager.save(Order.create(2).record({ topic: 'fourth', key: 'k', payload: 4 }));
    });
    expect(outboxInserts()).toBe(1);
    const sender = await deliver();
    expect(sender.deliveries.map((m) => m.topic)).toEqual(['first', 'second', 'third', 'fourth']);
  });

  it('addMessage with explicit options writes to that table', async () => {
    const other = new SqlMessageStore({
      dialect: outboxDialect(db, ns, 'other_outbox'),
      db: typeormExecutor(dataSource),
    });
    await other.migrate();
    await dataSource.transaction((manager) =>
      addMessage(manager, { topic: 'elsewhere', payload: 1 }, { ...db.where(ns), table: 'other_outbox' }),
    );
    expect((await other.list({ status: 'pending' })).map((m) => m.topic)).toEqual(['elsewhere']);
    expect(await pendingTopics()).toEqual([]);
  });

  it('addMessage rejects bad input before writing anything', async () => {
    await expect(addMessage({} as never, { topic: 't', payload: 1 })).rejects.toSatisfy((e) =>
      isOutboxError(e, 'INVALID_OPTION'),
    );
    await dataSource.transaction(async (manager) => {
      await expect(
        addMessage(manager, { topic: 't', payload: 1 }, { table: 'x; DROP TABLE y' }),
      ).rejects.toSatisfy((e) => isOutboxError(e, 'INVALID_IDENTIFIER'));
      await expect(
        addMessage(manager, [
          { topic: 'ok', payload: 1 },
          { topic: 't', payload: { n: Number.NaN } },
        ]),
      ).rejects.toSatisfy((e) => isOutboxError(e, 'UNSERIALIZABLE_PAYLOAD'));
    });
    expect(outboxInserts()).toBe(0);
  });
});

describe.each(databases)('OutboxSubscriber when the outbox write fails, on $name', (db) => {
  it('fails the commit and rolls back the entity too', async () => {
    const { dataSource, ns, close } = await testDataSource(db, {
      entities: [OrderSchema],
      subscribers: [outboxSubscriber({ table: 'no_such_outbox_table' })],
    });
    try {
      await dataSource.synchronize();
      await expect(
        dataSource.manager.save(Order.create(1).record({ topic: 't', payload: 1 })),
      ).rejects.toThrow(/no_such_outbox_table/);
      const [{ n }] = await dataSource.query(`SELECT count(*) AS n FROM ${db.qualify(ns, 'orders')}`);
      expect(Number(n)).toBe(0);
      // Entities without messages still save: the failed transaction left nothing behind.
      await dataSource.manager.save(Order.create(2));
      const [{ m }] = await dataSource.query(`SELECT count(*) AS m FROM ${db.qualify(ns, 'orders')}`);
      expect(Number(m)).toBe(1);
    } finally {
      await close();
    }
  });
});

describe.each(databases)('OutboxSubscriber onCommit on $name', (db) => {
  const commits: number[] = [];
  let dataSource: DataSource;
  let close: () => Promise<void>;
  let throwing = false;

  beforeAll(async () => {
    const ns = uniqueName('oncommit');
    ({ dataSource, close } = await testDataSource(db, {
      ns,
      entities: [OrderSchema],
      subscribers: [
        outboxSubscriber({
          ...db.where(ns),
          // For the writes outside a transaction below; the others are in transactions.
          autocommit: true,
          onCommit: (count) => {
            commits.push(count);
            if (throwing) throw new Boom('listener bug');
          },
        }),
      ],
    }));
    await dataSource.synchronize();
    await outboxDialect(db, ns).migrate(typeormExecutor(dataSource));
  });
  afterAll(() => close?.());
  beforeEach(() => {
    commits.length = 0;
    throwing = false;
  });

  it('reports the messages of a transaction once, after its commit', async () => {
    await dataSource.transaction(async (manager) => {
      await manager.save([1, 2].map((i) => Order.create(i).record({ topic: 'n', payload: i })));
      expect(commits).toEqual([]);
      await addMessage(manager, { topic: 'explicit', payload: 3 });
      expect(commits).toEqual([]);
    });
    expect(commits).toEqual([3]);
  });

  it('reports nothing for a rolled-back transaction or one without messages', async () => {
    await expect(
      dataSource.transaction(async (manager) => {
        await manager.save(Order.create(1).record({ topic: 'n', payload: 1 }));
        await addMessage(manager, { topic: 'explicit', payload: 2 });
        throw new Boom('rolled back');
      }),
    ).rejects.toBeInstanceOf(Boom);
    await dataSource.manager.save(Order.create(2));
    expect(commits).toEqual([]);
  });

  it('reports writes outside a transaction (autocommit: true) at once, and survives a throwing hook', async () => {
    throwing = true;
    expect(await addMessage(dataSource.manager, { topic: 'alone', payload: 1 })).toBe(1);
    await dataSource.manager.save(Order.create(1).record({ topic: 'saved', payload: 1 }));
    expect(commits).toEqual([1, 1]);
  });
});

describe('OutboxSubscriber options', () => {
  it('rejects bad options with a typed error at once', () => {
    expect(() => outboxSubscriber({ schema: 'bad name' })).toThrow(
      expect.objectContaining({ code: 'INVALID_IDENTIFIER' }),
    );
    expect(() => outboxSubscriber({ tabel: 'x' } as never)).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION' }),
    );
    expect(() => new OutboxSubscriber({ limits: { maxPayloadBytes: -1 } })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION' }),
    );
    expect(() => outboxSubscriber({ onCommit: 'wake' as never })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION' }),
    );
  });

  it('maps each TypeORM driver to its dialect, and says clearly what it does not support', () => {
    expect(dialectFor('postgres', { schema: 'app' }).tableName).toBe('"app"."outbox_messages"');
    expect(dialectFor('aurora-postgres', {}).name).toBe('postgres');
    for (const type of ['mysql', 'mariadb', 'aurora-mysql']) {
      const dialect = dialectFor(type, { database: 'app', table: 'events' });
      expect(dialect.name).toBe('mysql');
      expect(dialect.tableName).toBe('`app`.`events`');
      expect(dialect.relayIsolationLevel).toBe('read committed');
    }
    expect(dialectFor('mysql', {}).tableName).toBe('`outbox_messages`');
    expect(() => dialectFor('sqlite', {})).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
    expect(() => dialectFor('mysql', { schema: 'app' })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION' }),
    );
    expect(() => dialectFor('postgres', { database: 'app' })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION' }),
    );
    expect(() => outboxSubscriber({ schema: 'a', database: 'b' })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION' }),
    );
    expect(() => outboxSubscriber({ database: 'a-b' })).toThrow(
      expect.objectContaining({ code: 'INVALID_IDENTIFIER' }),
    );
  });

  it('recognises entities with outbox messages', () => {
    expect(hasOutboxMessages(Order.create(1))).toBe(true);
    expect(hasOutboxMessages({ id: 1 })).toBe(false);
    expect(hasOutboxMessages(null)).toBe(false);
  });
});
