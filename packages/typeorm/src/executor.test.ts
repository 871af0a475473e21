import { type IsolationLevel, isOutboxError, SqlMessageStore } from '@troutbox/core';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { addMessage } from './add-message.js';
import { entityManagerExecutor, queryRunnerExecutor, typeormExecutor } from './executor.js';
import { databases, outboxDialect, testDataSource } from './test-support.js';

const LEVELS: IsolationLevel[] = ['read committed', 'repeatable read', 'serializable'];

describe.each(databases)('TypeORM executors on $name', (db) => {
  let dataSource: DataSource;
  let close: () => Promise<void>;
  let store: SqlMessageStore;
  let table: string;
  let ns: string;

  beforeAll(async () => {
    // Two connections: a second transaction can run while one holds a claim.
    ({ dataSource, ns, close } = await testDataSource(db, { poolSize: 2 }));
    const dialect = outboxDialect(db, ns);
    table = dialect.tableName;
    store = new SqlMessageStore({ dialect, db: typeormExecutor(dataSource) });
    await store.migrate();
  });
  afterAll(() => close?.());
  beforeEach(async () => {
    await dataSource.query(`DELETE FROM ${table}`);
  });

  it('answer rows for a SELECT and the affected count for an UPDATE or DELETE, on every driver', async () => {
    await dataSource.transaction((manager) =>
      addMessage(
        manager,
        [1, 2, 3].map((i) => ({ topic: 'count-me', payload: i })),
        { dialect: store.dialect },
      ),
    );
    const select = store.dialect.listMessages('pending', { limit: 10 });
    const pool = typeormExecutor(dataSource);
    const listed = await pool.query(select.sql, select.params);
    expect(listed.rows).toHaveLength(3);
    expect(listed.rowCount).toBe(3);
    const ids = listed.rows.map((r) => String(r.id));

    // Through the manager of a TypeORM transaction, and through a bare query runner.
    await dataSource.transaction(async (manager) => {
      const done = store.dialect.complete(ids.slice(0, 2).map((id) => ({ id, status: 'sent' as const })));
      const updated = await entityManagerExecutor(manager).query(done.sql, done.params);
      expect(updated).toEqual({ rows: [], rowCount: 2 });
    });
    const runner = dataSource.createQueryRunner();
    try {
      const purge = store.dialect.purge('sent', { limit: 10 });
      expect(await queryRunnerExecutor(runner).query(purge.sql, purge.params)).toEqual({
        rows: [],
        rowCount: 2,
      });
      expect(await queryRunnerExecutor(runner).query(purge.sql, purge.params)).toEqual({
        rows: [],
        rowCount: 0,
      });
    } finally {
      await runner.release();
    }
  });

  it('open each transaction at the isolation level asked for, and only that transaction', async () => {
    const executor = typeormExecutor(dataSource);
    for (const level of LEVELS) {
      const seen = await executor.transaction((tx) => db.currentIsolation(tx, dataSource, ns), {
        isolationLevel: level,
      });
      expect(seen).toBe(level);
      // The next transaction on the pool (two connections) is back at the database's default.
      for (let i = 0; i < 2; i++) {
        expect(await executor.transaction((tx) => db.currentIsolation(tx, dataSource, ns))).toBe(
          db.defaultIsolation,
        );
      }
    }
  });

  it('run the relay’s transactions at the dialect’s relayIsolationLevel', async () => {
    const level = await store.transaction((tx) => db.currentIsolation(tx, dataSource, ns));
    expect(level).toBe(store.dialect.relayIsolationLevel ?? db.defaultIsolation);
    if (store.dialect.name === 'mysql') expect(level).toBe('read committed');
  });

  it('reject an unknown isolation level before taking a connection', async () => {
    const error = await typeormExecutor(dataSource)
      .transaction(async () => 1, { isolationLevel: 'read uncommitted' as IsolationLevel })
      .catch((e: unknown) => e);
    expect(isOutboxError(error, 'INVALID_OPTION')).toBe(true);
  });

  it('a producer is not blocked while the relay holds a claimed batch', async () => {
    await dataSource.transaction((manager) =>
      addMessage(
        manager,
        [1, 2, 3].map((i) => ({ topic: 'claimed', payload: i })),
        { dialect: store.dialect },
      ),
    );
    const produced = await store.transaction(async (tx) => {
      const claimed = await store.claim(tx, 100);
      expect(claimed).toHaveLength(3);
      // On the pool's other connection, while the claim's locks are held.
      return produceWithShortLockWait(dataSource, db.shortLockWait, store);
    });
    expect(produced).toBe(1);
    expect((await store.stats()).pending).toBe(4);
  });
});

// Why the relay asks for READ COMMITTED on MySQL: at InnoDB's REPEATABLE READ the locking claim
// also locks the gap after the last pending row, and a producer's insert waits on it.
describe.each(databases.filter((db) => outboxDialect(db, 'x').name === 'mysql'))(
  'the claim at REPEATABLE READ on $name',
  (db) => {
    it('blocks producers, which is why the relay runs at READ COMMITTED', async () => {
      const { dataSource, ns, close } = await testDataSource(db, { poolSize: 2 });
      try {
        const dialect = outboxDialect(db, ns);
        const store = new SqlMessageStore({ dialect, db: typeormExecutor(dataSource) });
        await store.migrate();
        await dataSource.transaction((manager) =>
          addMessage(manager, { topic: 'claimed', payload: 1 }, { dialect }),
        );
        const error = await store.db.transaction(
          async (tx) => {
            expect(await store.claim(tx, 100)).toHaveLength(1);
            return produceWithShortLockWait(dataSource, db.shortLockWait, store).catch((e: unknown) => e);
          },
          { isolationLevel: 'repeatable read' },
        );
        expect(String(error)).toMatch(/Lock wait timeout/i);
      } finally {
        await close();
      }
    });
  },
);

async function produceWithShortLockWait(
  dataSource: DataSource,
  lockWait: { set: string; reset: string },
  store: SqlMessageStore,
): Promise<number> {
  const runner = dataSource.createQueryRunner();
  try {
    await runner.query(lockWait.set);
    await runner.startTransaction();
    try {
      const count = await addMessage(
        runner.manager,
        { topic: 'produced', payload: 2 },
        { dialect: store.dialect },
      );
      await runner.commitTransaction();
      return count;
    } catch (error) {
      await runner.rollbackTransaction();
      throw error;
    } finally {
      await runner.query(lockWait.reset);
    }
  } finally {
    await runner.release();
  }
}
