// Rule: an addMessage call too large for one INSERT is all or nothing. Inside the caller's
// transaction it is that transaction's; on the root database (autocommit opted in) it gets a
// transaction of its own. A trigger refuses the very last row, after earlier INSERTs have run.
import { quoteMysql, quotePg } from '@troutbox/core';
import { count, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMessage, drizzleExecutor } from './index.js';
import { databases, pgliteDatabase, type TestDatabase } from './test/databases.js';

const MESSAGES = 10_001;
const messages = Array.from({ length: MESSAGES }, (_, i) => ({
  topic: i === MESSAGES - 1 ? 'refused' : 'bulk',
  payload: i,
}));

describe.each([...databases, ['PGlite', pgliteDatabase] as const])(
  'a multi-statement addMessage (%s)',
  (_name, open) => {
    let t: TestDatabase;
    let ns: string;
    let outbox: any;
    let orders: any;

    beforeAll(async () => {
      t = await open();
      ns = await t.namespace('drz_atomic');
      outbox = t.outbox(ns);
      orders = await t.orders(ns);
      const dialect = t.dialect(ns);
      await dialect.migrate(drizzleExecutor(t.db));
      if (t.kind === 'postgres') {
        await t.db.execute(
          sql.raw(`CREATE FUNCTION ${quotePg(ns)}.refuse() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN IF NEW.topic = 'refused' THEN RAISE EXCEPTION 'refused by trigger'; END IF; RETURN NEW; END $$`),
        );
        await t.db.execute(
          sql.raw(
            `CREATE TRIGGER refuse BEFORE INSERT ON ${dialect.tableName} FOR EACH ROW EXECUTE FUNCTION ${quotePg(ns)}.refuse()`,
          ),
        );
      } else {
        await t.db.execute(
          sql.raw(`CREATE TRIGGER ${quoteMysql(ns)}.refuse BEFORE INSERT ON ${dialect.tableName} FOR EACH ROW
            BEGIN IF NEW.topic = 'refused' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused by trigger'; END IF; END`),
        );
      }
    });
    afterAll(async () => {
      await t?.close();
    });

    const rows = async () => Number((await t.db.select({ n: count() }).from(outbox))[0].n);

    it("one addMessage of 10,001 messages inside the caller's transaction whose last INSERT fails leaves nothing committed", async () => {
      const dialect = t.dialect(ns);
      // More than one statement on each database, so earlier INSERTs have run when the last fails.
      expect(MESSAGES).toBeGreaterThan(dialect.maxRowsPerInsert);
      const failed = t.db.transaction(async (tx: any) => {
        await tx.insert(orders).values({ id: 'o-1', total: 1 });
        await addMessage(tx, messages, t.options(ns));
      });
      await expect(failed).rejects.toThrow('refused by trigger');
      expect(await rows()).toBe(0);
      expect(await t.db.select().from(orders)).toEqual([]);
    });

    it('with autocommit: true on the root database, the same call is all or nothing (a transaction of its own)', async () => {
      await expect(addMessage(t.db, messages, { ...t.options(ns), autocommit: true })).rejects.toThrow(
        'refused by trigger',
      );
      expect(await rows()).toBe(0);
      // Without the refused row, every message is written.
      const fine = messages.slice(0, MESSAGES - 1).concat({ topic: 'bulk', payload: -1 });
      expect(await addMessage(t.db, fine, { ...t.options(ns), autocommit: true })).toBe(MESSAGES);
      expect(await rows()).toBe(MESSAGES);
    });
  },
);
