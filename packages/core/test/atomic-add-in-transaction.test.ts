// Rules: one add is all or nothing inside the caller's transaction too — an add split over
// several INSERTs that fails part-way leaves none of its messages behind, even when the caller
// catches the error and commits (MySQL keeps the statements before a failed one) — and the
// handle of a transaction that has ended runs nothing at all, since its connection may serve
// someone else's transaction by then.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOutbox, type Dialect, type Executor, isOutboxError } from '../src/index.js';
import { uniqueName } from '../src/testing/index.js';
import { databases, type TestPool } from './databases.js';

describe.each(databases)('on $label', (database) => {
  const namespace = uniqueName('atomic_tx');
  let pool: TestPool;
  let dialect: Dialect;
  const count = async (where = '1 = 1') =>
    Number(
      (await pool.sql<{ n: unknown }>(`SELECT count(*) AS n FROM ${dialect.tableName} WHERE ${where}`))[0]!.n,
    );

  beforeAll(async () => {
    pool = database.connect({ connections: 2 });
    await database.createNamespace(pool, namespace);
    dialect = database.dialect(namespace);
    await dialect.migrate(pool.db);
    // A database-side refusal of the very last row, after the earlier INSERTs have run.
    if (database.name === 'postgres') {
      await pool.sql(`CREATE FUNCTION "${namespace}".refuse() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF NEW.topic = 'refused' THEN RAISE EXCEPTION 'refused by trigger'; END IF; RETURN NEW; END $$`);
      await pool.sql(
        `CREATE TRIGGER refuse BEFORE INSERT ON ${dialect.tableName} FOR EACH ROW EXECUTE FUNCTION "${namespace}".refuse()`,
      );
    } else {
      await pool.sql(`CREATE TRIGGER \`${namespace}\`.refuse BEFORE INSERT ON ${dialect.tableName} FOR EACH ROW
        BEGIN IF NEW.topic = 'refused' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused by trigger'; END IF; END`);
    }
  });
  afterAll(async () => {
    await database.dropNamespace(pool, namespace);
    await pool.end();
  });

  it('an add split over several INSERTs that fails part-way leaves none of its messages, even when the caller commits anyway', async () => {
    const outbox = createOutbox({ dialect });
    const max = dialect.maxRowsPerInsert;
    const messages = Array.from({ length: max + 1 }, (_, i) => ({
      topic: i === max ? 'refused' : 'bulk',
      payload: i,
    }));
    await pool.db.transaction(async (tx) => {
      await outbox.add(tx, { topic: 'business', payload: 'kept' });
      await expect(outbox.add(tx, messages)).rejects.toThrow('refused by trigger');
      // The caller's transaction is usable after the failed add, and goes on to commit.
      await outbox.add(tx, { topic: 'after', payload: 'kept' });
    });
    expect(await count(`topic = 'bulk'`)).toBe(0);
    expect(await count(`topic IN ('business', 'after')`)).toBe(2);
  });

  it('the handle of an ended transaction runs no statement at all', async () => {
    let kept: Executor | undefined;
    await pool.db.transaction(async (tx) => {
      kept = tx;
    });
    const error = await kept!.query('SELECT 1 AS one').catch((e: unknown) => e);
    expect(isOutboxError(error, 'NOT_IN_TRANSACTION')).toBe(true);
  });
});
