// The pooled executors (pgPool, mysql2Pool) as the relay and the admin API use them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Executor, isOutboxError } from '../src/index.js';
import { createTestOutbox, databases, type TestOutbox } from './helpers.js';

describe.each(databases)('pooled executor on $label', (database) => {
  let db: TestOutbox;
  beforeAll(async () => {
    db = await createTestOutbox(database, { prefix: 'exec', pool: { connections: 1 } });
  });
  afterAll(async () => {
    await db?.close();
  });

  it("the relay's claim transactions run at READ COMMITTED; a caller's own level is honoured", async () => {
    const other = db.newStore({ connections: 1 });
    const count = async (tx: Executor) => {
      const { rows } = await tx.query<{ n: unknown }>(`SELECT COUNT(*) AS n FROM ${db.dialect.tableName}`);
      return Number(rows[0]!.n);
    };
    // Whether a row committed by another session after the transaction's first read is seen.
    const seesLaterCommit = (open: (fn: (tx: Executor) => Promise<boolean>) => Promise<boolean>) =>
      open(async (tx) => {
        const before = await count(tx);
        await other.store.db.transaction((o) => other.store.add(o, { topic: 'concurrent', payload: 1 }));
        return (await count(tx)) > before;
      });
    expect(await seesLaterCommit((fn) => db.store.transaction(fn))).toBe(true);
    expect(
      await seesLaterCommit((fn) => db.pool.db.transaction(fn, { isolationLevel: 'repeatable read' })),
    ).toBe(false);
    // The level was for that transaction only: the store's next one is READ COMMITTED again.
    expect(await seesLaterCommit((fn) => db.store.transaction(fn))).toBe(true);
    await other.pool.end();
    await db.sql("DELETE FROM $table WHERE topic = 'concurrent'");
  });

  it('an unknown isolation level is INVALID_OPTION, before anything runs', async () => {
    let ran = false;
    const error = await db.pool.db
      .transaction(
        async () => {
          ran = true;
        },
        { isolationLevel: 'chaos' as never },
      )
      .catch((e: unknown) => e);
    expect(isOutboxError(error, 'INVALID_OPTION')).toBe(true);
    expect(ran).toBe(false);
  });

  it('a rolled-back transaction returns its connection to the pool; the rollback holds', async () => {
    // A pool of one: the same session serves every transaction unless one is thrown away.
    const first = await db.pool.db.transaction((tx) => database.sessionId(tx));
    const failed = await db.pool.db
      .transaction(async (tx) => {
        await db.store.add(tx, { topic: 'rolled-back', payload: 1 });
        throw new Error(`business rule failed on session ${await database.sessionId(tx)}`);
      })
      .catch((e: Error) => e.message);
    expect(failed).toBe(`business rule failed on session ${first}`);
    expect(await db.pool.db.transaction((tx) => database.sessionId(tx))).toBe(first);
    expect(await db.count()).toBe(0);
  });

  it('a failed statement inside a transaction rolls back everything before it', async () => {
    const error = await db.pool.db
      .transaction(async (tx) => {
        await db.store.add(tx, { topic: 'before', payload: 1 });
        await tx.query('SELECT * FROM no_such_table_here');
      })
      .catch((e: unknown) => e);
    expect(String(error)).toMatch(/no_such_table_here/);
    expect(await db.count()).toBe(0);
    await db.add({ topic: 'after', payload: 1 });
    expect(await db.count()).toBe(1);
  });
});
