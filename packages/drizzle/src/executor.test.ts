import { type Executor, SqlMessageStore } from '@troutbox/core';
import { waitFor } from '@troutbox/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMessage, drizzleExecutor } from './index.js';
import { concurrentDrivers, databases, drivers, type TestDatabase } from './test/databases.js';

describe.each(drivers)('drizzleExecutor results (%s)', (_name, open) => {
  let t: TestDatabase;
  let ns: string;
  let ex: ReturnType<typeof drizzleExecutor>;
  let fish: string;

  beforeAll(async () => {
    t = await open();
    ns = await t.namespace('drz_ex');
    ex = drizzleExecutor(t.db);
    fish = t.sql.table(ns, 'fish');
    await ex.query(`CREATE TABLE ${fish} (name VARCHAR(32) PRIMARY KEY, n INT NOT NULL)`);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('gives rows and a row count whatever the driver returns', async () => {
    const { p } = t.sql;
    await ex.query(`INSERT INTO ${fish} (name, n) VALUES ('a', 1), ('b', 2), ('c', 3)`);
    const select = await ex.query<{ name: string; s: string }>(
      `SELECT name, ${p(1)} AS s FROM ${fish} WHERE n >= ${p(2)} ORDER BY name`,
      ['x', 1],
    );
    expect(select).toEqual({
      rows: [
        { name: 'a', s: 'x' },
        { name: 'b', s: 'x' },
        { name: 'c', s: 'x' },
      ],
      rowCount: 3,
    });
    const changed = await ex.transaction((tx) =>
      tx.query(`UPDATE ${fish} SET n = n + 1 WHERE n > ${p(1)}`, [1]),
    );
    expect(changed).toEqual({ rows: [], rowCount: 2 });
    // A '?' or '$1' inside a literal is not a placeholder.
    const literal = await ex.query<{ a: string; b: string }>(`SELECT ${p(1)} AS a, '$1 ?' AS b`, ['v']);
    expect(literal.rows).toEqual([{ a: 'v', b: '$1 ?' }]);
  });

  it("rethrows the driver's error with its code, not drizzle's wrapper with every parameter", async () => {
    const error = await ex.query(`SELECT * FROM ${t.sql.table(ns, 'no_such_table')}`).then(
      () => ({ message: 'no error' }),
      (e: unknown) => e as { code?: string; message: string },
    );
    expect(error).toMatchObject({ code: t.sql.missingTableCode });
    expect(error.message).not.toMatch(/Failed query/);
  });

  it('commits, rolls back, and binds each transaction to its tx', async () => {
    await ex.transaction((tx) => tx.query(`INSERT INTO ${fish} (name, n) VALUES ('carp', 1)`));
    await expect(
      ex.transaction(async (tx) => {
        await tx.query(`INSERT INTO ${fish} (name, n) VALUES ('eel', 1)`);
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    const names = await ex.query<{ name: string }>(`SELECT name FROM ${fish} WHERE name IN ('carp', 'eel')`);
    expect(names.rows).toEqual([{ name: 'carp' }]);
  });
});

describe.each(concurrentDrivers)('drizzleExecutor isolation levels (%s)', (_name, open) => {
  let t: TestDatabase;
  let ex: ReturnType<typeof drizzleExecutor>;
  let fish: string;

  beforeAll(async () => {
    t = await open();
    const ns = await t.namespace('drz_lvl');
    ex = drizzleExecutor(t.db);
    fish = t.sql.table(ns, 'fish');
    await ex.query(`CREATE TABLE ${fish} (name VARCHAR(32) PRIMARY KEY, n INT NOT NULL)`);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('runs a transaction at the level core asks for', async () => {
    const { p } = t.sql;
    // The level shows in behaviour: a row another connection commits mid-transaction is seen by
    // the next read under read committed, and not under repeatable read.
    const seesConcurrentCommit = (isolationLevel: 'read committed' | 'repeatable read', name: string) =>
      ex.transaction(
        async (tx) => {
          await tx.query(`SELECT count(*) AS n FROM ${fish}`);
          await ex.query(`INSERT INTO ${fish} (name, n) VALUES (${p(1)}, 1)`, [name]);
          const again = await tx.query(`SELECT name FROM ${fish} WHERE name = ${p(1)}`, [name]);
          return again.rowCount === 1;
        },
        { isolationLevel },
      );
    expect(await seesConcurrentCommit('read committed', 'rc-bass')).toBe(true);
    expect(await seesConcurrentCommit('repeatable read', 'rr-bass')).toBe(false);
  });
});

// Why the relay asks for READ COMMITTED on MySQL: at InnoDB's default REPEATABLE READ, the claim
// query's locking read also locks the gap after the last pending row, and a producer's insert
// waits in it until the batch has been sent and committed.
describe('a relay claim on MariaDB, through drizzleExecutor', () => {
  let t: TestDatabase;
  let store: SqlMessageStore;
  let ns: string;

  beforeAll(async () => {
    t = await databases.find(([name]) => name === 'MariaDB')![1]();
    ns = await t.namespace('drz_gap');
    store = new SqlMessageStore({ dialect: t.dialect(ns), db: drizzleExecutor(t.db) });
    await store.migrate();
    await t.db.transaction((tx: any) =>
      addMessage(
        tx,
        [1, 2, 3].map((i) => ({ topic: 'gap', payload: i })),
        t.options(ns),
      ),
    );
  });
  afterAll(async () => {
    await t?.close();
  });

  // A producer transaction that gives up after 1 s of waiting for a lock.
  const produce = () =>
    t.db.transaction(async (tx: any) => {
      await drizzleExecutor(tx).query('SET SESSION innodb_lock_wait_timeout = 1');
      return addMessage(tx, { topic: 'gap', payload: 'new' }, t.options(ns));
    });
  const claimAll = (run: (claim: (tx: Executor) => Promise<unknown>) => Promise<unknown>) =>
    run(async (tx) => {
      expect((await store.claim(tx, 100)).length).toBeGreaterThan(0);
      return produce();
    });

  it("does not block a producer's insert while the batch is held (store.transaction's READ COMMITTED)", async () => {
    await expect(claimAll((fn) => store.transaction(fn))).resolves.toBe(1);
  });

  it('would block it at REPEATABLE READ, which is why core asks for the level', async () => {
    const ex = drizzleExecutor(t.db);
    await expect(
      claimAll((fn) => ex.transaction(fn, { isolationLevel: 'repeatable read' })),
    ).rejects.toMatchObject({ code: 'ER_LOCK_WAIT_TIMEOUT' });
  });
});

describe.each(databases)('drizzleExecutor, when the server ends the connection (%s)', (_name, open) => {
  it('fails the transaction, reports the error, and does not crash the process', async () => {
    const t = await open();
    const errors: Error[] = [];
    const ex = drizzleExecutor(t.db, { onConnectionError: (e) => errors.push(e) });
    try {
      const failed = ex.transaction(async (tx) => {
        const { rows } = await tx.query<{ id: number }>(t.sql.sessionId);
        const kill = t.sql.kill(rows[0]!.id);
        await ex.query(kill.text, kill.params);
        // The checked-out connection emits `error` once the server's notice or the closed socket
        // arrives.
        await waitFor(() => errors.length > 0, { message: 'the connection error event' });
        await tx.query('SELECT 1');
      });
      await expect(failed).rejects.toThrow();
      expect(errors[0]!.message).toMatch(/terminat|closed|lost/i);
      // The broken connection is not handed out again.
      expect((await ex.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    } finally {
      await t.close();
    }
  });
});
