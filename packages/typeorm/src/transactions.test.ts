// The transaction rules of @troutbox/typeorm (issue 13), on PostgreSQL and MariaDB:
// - a write through a manager, query runner or executor that is not in a transaction is refused
//   before any SQL (NOT_IN_TRANSACTION), unless `autocommit: true` was asked for;
// - a handle whose transaction is over is always refused, never written through the pool;
// - one addMessage of several statements is all or nothing;
// - the package's factories reject option names they do not know.
import {
  createOutbox,
  type Dialect,
  type Executor,
  isOutboxError,
  type NewMessage,
  quoteMysql,
  quotePg,
  SqlMessageStore,
} from '@troutbox/core';
import { uniqueName } from '@troutbox/core/testing';
import type { DataSource, EntityManager } from 'typeorm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { addMessage } from './add-message.js';
import { outboxMessageEntity } from './entity.js';
import { entityManagerExecutor, queryRunnerExecutor, typeormExecutor } from './executor.js';
import { createOutboxMigrations } from './migrations.js';
import { dialectFor, type TypeormOutboxOptions } from './options.js';
import { OutboxSubscriber, outboxSubscriber } from './subscriber.js';
import {
  databases,
  Order,
  OrderSchema,
  outboxDialect,
  StatementLog,
  type TestDatabase,
  testDataSource,
} from './test-support.js';

const TABLE = 'outbox';
const message: NewMessage = { topic: 'guarded', payload: { n: 1 } };

async function refused(promise: Promise<unknown>, code = 'NOT_IN_TRANSACTION'): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isOutboxError(error, code as never), String(error)).toBe(true);
}

/** A trigger that refuses a row with topic `refused`: a failure after earlier statements ran. */
async function refuseTopic(db: TestDatabase, dataSource: DataSource, ns: string, dialect: Dialect) {
  if (db.type === 'postgres') {
    await dataSource.query(`CREATE FUNCTION ${quotePg(ns)}.refuse() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.topic = 'refused' THEN RAISE EXCEPTION 'refused by trigger'; END IF; RETURN NEW; END $$`);
    await dataSource.query(
      `CREATE TRIGGER refuse BEFORE INSERT ON ${dialect.tableName} FOR EACH ROW EXECUTE FUNCTION ${quotePg(ns)}.refuse()`,
    );
  } else {
    await dataSource.query(
      `CREATE TRIGGER ${quoteMysql(ns)}.refuse BEFORE INSERT ON ${dialect.tableName} FOR EACH ROW
       BEGIN IF NEW.topic = 'refused' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused by trigger'; END IF; END`,
    );
  }
}

describe.each(databases)('transaction rules on $name', (db) => {
  const log = new StatementLog();
  const ns = uniqueName('typeorm_tx');
  const dialect = outboxDialect(db, ns, TABLE);
  // addMessage's options naming the subscriber's table: written at once, not in its batch.
  const where: TypeormOutboxOptions = { ...db.where(ns), table: TABLE };
  const orders = db.qualify(ns, 'orders');
  let dataSource: DataSource;
  let close: () => Promise<void>;
  let store: SqlMessageStore;

  beforeAll(async () => {
    ({ dataSource, close } = await testDataSource(db, {
      ns,
      entities: [OrderSchema],
      subscribers: [outboxSubscriber(where)],
      logger: log,
    }));
    await dataSource.synchronize();
    store = new SqlMessageStore({ dialect, db: typeormExecutor(dataSource) });
    await store.migrate();
    await refuseTopic(db, dataSource, ns, dialect);
  });
  afterAll(() => close?.());
  beforeEach(async () => {
    await dataSource.query(`DELETE FROM ${dialect.tableName}`);
    await dataSource.query(`DELETE FROM ${orders}`);
    log.clear();
  });

  const count = async () =>
    Number((await dataSource.query(`SELECT count(*) AS n FROM ${dialect.tableName}`))[0].n);
  const orderCount = async () => Number((await dataSource.query(`SELECT count(*) AS n FROM ${orders}`))[0].n);
  const pendingTopics = async () => (await store.list({ status: 'pending' })).map((m) => m.topic);

  it('a write through the root manager, or any executor over it, is refused with NOT_IN_TRANSACTION before any SQL', async () => {
    const runner = dataSource.createQueryRunner();
    try {
      await runner.connect();
      const outbox = createOutbox({ dialect });
      const writes: [string, () => Promise<unknown>][] = [
        ['addMessage(root manager), subscriber’s table', () => addMessage(dataSource.manager, message)],
        ['addMessage(root manager, options)', () => addMessage(dataSource.manager, message, where)],
        [
          'outbox.add(entityManagerExecutor(root))',
          () => outbox.add(entityManagerExecutor(dataSource.manager), message),
        ],
        ['outbox.add(typeormExecutor)', () => outbox.add(typeormExecutor(dataSource), message)],
        ['addMessage(runner.manager), no transaction', () => addMessage(runner.manager, message)],
        ['addMessage(runner.manager, options)', () => addMessage(runner.manager, message, where)],
        ['outbox.add(queryRunnerExecutor)', () => outbox.add(queryRunnerExecutor(runner), message)],
      ];
      for (const [what, write] of writes) {
        log.clear();
        await refused(write());
        expect(log.statements, what).toEqual([]);
      }
    } finally {
      await runner.release();
    }
    expect(await count()).toBe(0);
  });

  it('with autocommit: true the root manager writes, each call committing on its own', async () => {
    const allowed = { ...where, autocommit: true };
    expect(await addMessage(dataSource.manager, { topic: 'auto-1', payload: 1 }, allowed)).toBe(1);
    const outbox = createOutbox({ dialect, autocommit: true });
    await outbox.add(entityManagerExecutor(dataSource.manager), { topic: 'auto-2', payload: 2 });
    const runner = dataSource.createQueryRunner();
    try {
      await addMessage(runner.manager, { topic: 'auto-3', payload: 3 }, allowed);
    } finally {
      await runner.release();
    }
    expect(await pendingTopics()).toEqual(['auto-1', 'auto-2', 'auto-3']);
  });

  it('the manager of dataSource.transaction and a query runner in a transaction write in it', async () => {
    class Boom extends Error {}
    await expect(
      dataSource.transaction(async (manager) => {
        await addMessage(manager, { topic: 'batched', payload: 1 });
        await addMessage(manager, { topic: 'at-once', payload: 2 }, where);
        throw new Boom();
      }),
    ).rejects.toBeInstanceOf(Boom);
    expect(await count()).toBe(0);

    const runner = dataSource.createQueryRunner();
    try {
      await runner.startTransaction();
      await addMessage(runner.manager, { topic: 'runner-batched', payload: 1 });
      await addMessage(runner.manager, { topic: 'runner-at-once', payload: 2 }, where);
      await createOutbox({ dialect }).add(queryRunnerExecutor(runner), {
        topic: 'runner-executor',
        payload: 3,
      });
      await runner.rollbackTransaction();
      expect(await count()).toBe(0);
      await runner.startTransaction();
      await addMessage(runner.manager, { topic: 'runner-batched', payload: 1 });
      await addMessage(runner.manager, { topic: 'runner-at-once', payload: 2 }, where);
      await createOutbox({ dialect }).add(queryRunnerExecutor(runner), {
        topic: 'runner-executor',
        payload: 3,
      });
      await runner.commitTransaction();
    } finally {
      await runner.release();
    }
    // The batched message is written at commit, after the two written at once.
    expect(await pendingTopics()).toEqual(['runner-at-once', 'runner-executor', 'runner-batched']);
  });

  it('an entity with messages written outside a transaction is refused before its row is written', async () => {
    const order = Order.create(1).record({ topic: 'kept-for-later', payload: 1 });
    await refused(dataSource.manager.save(order, { transaction: false }));
    await refused(
      dataSource.manager.insert(Order, Order.create(2).record({ topic: 'inserted', payload: 2 })),
    );
    expect(log.statements.filter((s) => s.startsWith('INSERT'))).toEqual([]);
    expect(await orderCount()).toBe(0);
    // An entity without messages saves as before, and the refused messages were not lost: the
    // next save of the entity, in TypeORM's own transaction, writes them with its row.
    await dataSource.manager.save(Order.create(3), { transaction: false });
    await dataSource.manager.save(order);
    expect(await orderCount()).toBe(2);
    expect(await pendingTopics()).toEqual(['kept-for-later']);
  });

  it('executors report transactionState: the root autocommit, a transaction’s handle transaction, then ended', async () => {
    const state = (executor: Executor) => executor.transactionState?.();
    const pool = typeormExecutor(dataSource);
    expect(state(pool)).toBe('autocommit');
    expect(state(entityManagerExecutor(dataSource.manager))).toBe('autocommit');

    let poolTx: Executor | undefined;
    await pool.transaction(async (tx) => {
      poolTx = tx;
      expect(state(tx)).toBe('transaction');
    });
    expect(state(poolTx!)).toBe('ended');
    let conn: Executor | undefined;
    await pool.withConnection!(async (c) => {
      conn = c;
      expect(state(c)).toBe('autocommit');
    });
    expect(state(conn!)).toBe('ended');

    let managerTx: Executor | undefined;
    await dataSource.transaction(async (manager) => {
      managerTx = entityManagerExecutor(manager);
      expect(state(managerTx)).toBe('transaction');
      await manager.transaction(async (nested) => {
        expect(state(entityManagerExecutor(nested))).toBe('transaction');
      });
      expect(state(managerTx)).toBe('transaction');
    });
    expect(state(managerTx!)).toBe('ended');

    const runner = dataSource.createQueryRunner();
    const made = { before: queryRunnerExecutor(runner), inside: undefined as Executor | undefined };
    expect(state(made.before)).toBe('autocommit');
    await runner.startTransaction();
    made.inside = queryRunnerExecutor(runner);
    expect(state(made.before)).toBe('transaction');
    expect(state(made.inside)).toBe('transaction');
    await runner.commitTransaction();
    // The runner's handle follows its session; the transaction's handle is over with it.
    expect(state(made.before)).toBe('autocommit');
    expect(state(made.inside)).toBe('ended');
    await runner.release();
    expect(state(made.before)).toBe('ended');
    expect(state(queryRunnerExecutor(runner))).toBe('ended');
  });

  it('a manager or query runner used after its transaction ended is refused, never written through the pool', async () => {
    let kept: EntityManager | undefined;
    await dataSource.transaction(async (manager) => {
      kept = manager;
      await manager.save(Order.create(1));
    });
    log.clear();
    const allowed = { ...where, autocommit: true };
    const outbox = createOutbox({ dialect, autocommit: true });
    await refused(addMessage(kept!, message));
    await refused(addMessage(kept!, message, allowed));
    await refused(outbox.add(entityManagerExecutor(kept!), message));
    await refused(entityManagerExecutor(kept!).query('SELECT 1'));
    expect(log.statements).toEqual([]);

    // A query runner of one's own: the handle of its transaction ends with the transaction,
    // and the runner's manager ends with the runner.
    const runner = dataSource.createQueryRunner();
    let inTransaction: Executor;
    try {
      await runner.startTransaction();
      inTransaction = queryRunnerExecutor(runner);
      await runner.commitTransaction();
      await refused(outbox.add(inTransaction, message));
    } finally {
      await runner.release();
    }
    await refused(addMessage(runner.manager, message, allowed));
    await refused(addMessage(runner.manager, message));
    expect(await count()).toBe(0);
  });

  it('one addMessage too large for one statement is all or nothing: a refused last row leaves nothing committed', async () => {
    const total = 10_001; // more than one INSERT on both databases; the last row is refused
    expect(total).toBeGreaterThan(dialect.maxRowsPerInsert);
    const messages = Array.from({ length: total }, (_, i) => ({
      topic: i === total - 1 ? 'refused' : 'bulk',
      payload: i,
    }));
    // Inside the caller's transaction: written at once (options), or in the subscriber's batch
    // at commit (none).
    await expect(dataSource.transaction((manager) => addMessage(manager, messages, where))).rejects.toThrow(
      /refused by trigger/,
    );
    expect(await count()).toBe(0);
    await expect(dataSource.transaction((manager) => addMessage(manager, messages))).rejects.toThrow(
      /refused by trigger/,
    );
    expect(await count()).toBe(0);
    // Outside one, with autocommit allowed: a transaction of its own, on the pool or the runner.
    const allowed = { ...where, autocommit: true };
    await expect(addMessage(dataSource.manager, messages, allowed)).rejects.toThrow(/refused by trigger/);
    expect(await count()).toBe(0);
    const runner = dataSource.createQueryRunner();
    try {
      await expect(addMessage(runner.manager, messages, allowed)).rejects.toThrow(/refused by trigger/);
      expect(runner.isTransactionActive).toBe(false);
    } finally {
      await runner.release();
    }
    expect(await count()).toBe(0);
    // Without the refused row, every message is written.
    const fine = messages.map((m) => ({ ...m, topic: 'bulk' }));
    expect(await dataSource.transaction((manager) => addMessage(manager, fine, where))).toBe(total);
    expect(await count()).toBe(total);
  });

  it('unknown option names are INVALID_OPTION in every factory of the package', async () => {
    const invalid = (create: () => unknown) =>
      expect(create).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
    invalid(() => outboxSubscriber({ ...where, autocomit: true } as never));
    invalid(() => outboxSubscriber({ ...where, ordering: 'key' } as never));
    invalid(() => outboxSubscriber({ ...where, autocommit: 'yes' } as never));
    invalid(() => new OutboxSubscriber({ ...where, onCommmit: () => {} } as never));
    // Options of the writers are not options of the migrations or the entity: they would be ignored.
    invalid(() => createOutboxMigrations({ type: db.type, ...where, limits: {} } as never));
    invalid(() => createOutboxMigrations({ type: db.type, ...where, autocommit: true } as never));
    invalid(() => outboxMessageEntity({ type: db.type, ...where, dialect } as never));
    invalid(() => outboxMessageEntity({ type: db.type, ...where, limits: {} } as never));
    invalid(() => dialectFor(db.type, { ...where, tabel: 'x' } as never));
    await dataSource.transaction(async (manager) => {
      await refused(addMessage(manager, message, { ...where, tabel: 'x' } as never), 'INVALID_OPTION');
      await refused(
        addMessage(manager, message, { ...where, onCommit: () => {} } as never),
        'INVALID_OPTION',
      );
    });
    expect(await count()).toBe(0);
  });
});

describe.each(databases)('OutboxSubscriber with autocommit: true on $name', (db) => {
  it('writes at once what has no transaction to join: entities saved without one, addMessage on the root manager', async () => {
    const ns = uniqueName('typeorm_auto');
    const { dataSource, close } = await testDataSource(db, {
      ns,
      entities: [OrderSchema],
      subscribers: [outboxSubscriber({ ...db.where(ns), autocommit: true })],
    });
    try {
      await dataSource.synchronize();
      const store = new SqlMessageStore({ dialect: outboxDialect(db, ns), db: typeormExecutor(dataSource) });
      await store.migrate();
      await dataSource.manager.save(Order.create(1).record({ topic: 'saved', payload: 1 }), {
        transaction: false,
      });
      await addMessage(dataSource.manager, { topic: 'added', payload: 2 });
      expect((await store.list({ status: 'pending' })).map((m) => m.topic)).toEqual(['saved', 'added']);
    } finally {
      await close();
    }
  });
});
