// Rule: one addMessage call is all or nothing, however many statements it takes. Inside the
// caller's transaction (the only place it may write, see transaction-guard.test.ts) a statement
// that fails after earlier ones succeeded fails the call, and the caller's rollback takes the
// earlier statements with it: nothing of the call, nor of the business change, is committed.
import type { NewMessage } from '@troutbox/core';
import { type Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databases, type TestDatabase } from './databases.test-support.js';
import { type KyselyOutbox, kyselyOutbox } from './index.js';

/** The case: one message more than PostgreSQL's 10,000 rows a statement. */
const COUNT = 10_001;

describe.each(databases)('atomic addMessage on $label', (database) => {
  let t: TestDatabase;
  let root: Kysely<any>;
  const sent: string[] = [];

  beforeAll(async () => {
    t = await database.open('kyatomic', { connections: 4, onQuery: (sql) => sent.push(sql) });
    root = t.db;
    await root.withSchema(t.schema).schema.createTable('orders').addColumn('id', 'varchar(64)').execute();
  });
  afterAll(async () => {
    await t?.close();
  });

  /** An outbox table whose trigger refuses the row with topic 'refused', as a database may. */
  async function refusingOutbox(table: string, ordering: 'none' | 'key'): Promise<KyselyOutbox> {
    const outbox = kyselyOutbox({ dialect: database.dialect, schema: t.schema, table, ordering });
    await outbox.store(root).migrate();
    // Identifiers from uniqueName() and the literal table names above: safe to splice.
    if (database.dialect === 'postgres') {
      await sql
        .raw(`CREATE FUNCTION "${t.schema}".refuse_${table}() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN IF NEW.topic = 'refused' THEN RAISE EXCEPTION 'refused by trigger'; END IF; RETURN NEW; END $$`)
        .execute(root);
      await sql
        .raw(
          `CREATE TRIGGER refuse BEFORE INSERT ON "${t.schema}"."${table}" FOR EACH ROW EXECUTE FUNCTION "${t.schema}".refuse_${table}()`,
        )
        .execute(root);
    } else {
      await sql
        .raw(`CREATE TRIGGER \`${t.schema}\`.refuse_${table} BEFORE INSERT ON \`${t.schema}\`.\`${table}\` FOR EACH ROW
          IF NEW.topic = 'refused' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused by trigger'; END IF`)
        .execute(root);
    }
    return outbox;
  }

  const countRows = async (table: string) =>
    Number(
      (
        await root
          .withSchema(t.schema)
          .selectFrom(table)
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );

  const messages = (keyed: boolean): NewMessage[] =>
    Array.from({ length: COUNT }, (_, i) => ({
      topic: i === COUNT - 1 ? 'refused' : 'bulk',
      key: keyed ? `k${i % 7}` : null,
      payload: i,
    }));

  it.each([
    ['an unordered table', 'bulk_plain', 'none'],
    ['an ordered table (key counters first)', 'bulk_ordered', 'key'],
  ] as const)(
    'one addMessage of 10,001 messages whose later INSERT fails inside the caller’s transaction leaves nothing committed (%s)',
    async (_, table, ordering) => {
      const outbox = await refusingOutbox(table, ordering);
      sent.length = 0;
      await expect(
        root.transaction().execute(async (trx) => {
          await trx
            .withSchema(t.schema)
            .insertInto('orders')
            .values({ id: `order-${table}` })
            .execute();
          await outbox.addMessage(trx, messages(ordering === 'key'));
        }),
      ).rejects.toThrow(/refused by trigger/);
      // The call really took several statements, and the earlier ones succeeded.
      // (On PostgreSQL an ordered insert is one WITH … INSERT statement a chunk.)
      const inserts = sent.filter((s) => new RegExp(`insert into \\S*\\b${table}\\b`, 'i').test(s));
      expect(inserts.length).toBeGreaterThanOrEqual(2);
      expect(await countRows(table)).toBe(0);
      expect(await countRows('orders')).toBe(0);
      if (ordering === 'key') expect(await countRows(`${table}_keys`)).toBe(0);

      // The same with a controlled transaction that the caller rolls back on the error.
      const trx = await root.startTransaction().execute();
      await trx
        .withSchema(t.schema)
        .insertInto('orders')
        .values({ id: `controlled-${table}` })
        .execute();
      await expect(outbox.addMessage(trx, messages(ordering === 'key'))).rejects.toThrow(
        /refused by trigger/,
      );
      await trx.rollback().execute();
      expect(await countRows(table)).toBe(0);
      expect(await countRows('orders')).toBe(0);

      // Without the refused row, all 10,001 commit with the business row.
      const fine = messages(ordering === 'key').map((m) => ({ ...m, topic: 'bulk' }));
      await root.transaction().execute(async (trx) => {
        await trx
          .withSchema(t.schema)
          .insertInto('orders')
          .values({ id: `order-${table}` })
          .execute();
        expect(await outbox.addMessage(trx, fine)).toBe(COUNT);
      });
      expect(await countRows(table)).toBe(COUNT);
      expect(await countRows('orders')).toBe(1);
      await root.withSchema(t.schema).deleteFrom('orders').execute();
    },
  );
});
