import { PGlite } from '@electric-sql/pglite';
import { isTransactional, type TransactionalExecutor } from '@troutbox/core';
import { CamelCasePlugin, Kysely, PGliteDialect } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databases, type TestDatabase } from './databases.test-support.js';
import { kyselyExecutor } from './index.js';

/** What differs between the databases in these tests: placeholders and catalog functions. */
const sqlOf = {
  postgres: {
    p: (n: number) => `$${n}`,
    connectionId: 'SELECT pg_backend_pid() AS id',
    text: (n: number) => `$${n}::text`,
  },
  mysql: {
    p: (_: number) => '?',
    connectionId: 'SELECT CONNECTION_ID() AS id',
    text: (_: number) => '?',
  },
} as const;

describe.each(databases)('kyselyExecutor on $label', (database) => {
  const q = sqlOf[database.dialect];
  let t: TestDatabase;
  let db: Kysely<any>;
  let exec: TransactionalExecutor;
  let fish: string;

  beforeAll(async () => {
    t = await database.open('kyexec', { connections: 3 });
    db = t.db.withPlugin(new CamelCasePlugin());
    exec = kyselyExecutor(db);
    await db.schema
      .withSchema(t.schema)
      .createTable('fish')
      .addColumn('name', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('fish_count', 'integer', (c) => c.notNull())
      .execute();
    fish = database.dialect === 'postgres' ? `"${t.schema}".fish` : `\`${t.schema}\`.fish`;
  });
  afterAll(async () => {
    await t?.close();
  });

  it('binds parameters and counts rows read and rows changed', async () => {
    const inserted = await exec.query(
      `INSERT INTO ${fish} VALUES (${q.p(1)}, ${q.p(2)}), (${q.p(3)}, ${q.p(4)})`,
      ['trout', 1, 'pike', 2],
    );
    expect(inserted.rowCount).toBe(2);
    const updated = await exec.query(
      `UPDATE ${fish} SET fish_count = fish_count + 1 WHERE name = ${q.p(1)}`,
      ['trout'],
    );
    expect(updated).toEqual({ rows: [], rowCount: 1 });
    const read = await exec.query<{ name: string; fish_count: number }>(
      `SELECT name, fish_count FROM ${fish} ORDER BY name`,
    );
    // Columns come back as named in SQL, not renamed by the instance's CamelCasePlugin.
    expect(read).toEqual({
      rows: [
        { name: 'pike', fish_count: 2 },
        { name: 'trout', fish_count: 2 },
      ],
      rowCount: 2,
    });
    // A value that looks like SQL stays a value.
    const odd = "x'); DROP TABLE fish; --";
    expect((await exec.query(`SELECT ${q.text(1)} AS v`, [odd])).rows).toEqual([{ v: odd }]);
  });

  it('commits, rolls back, and honours the isolation level core asks for', async () => {
    await exec.transaction(async (tx) => {
      await tx.query(`INSERT INTO ${fish} VALUES ('carp', 1)`);
    });
    await expect(
      exec.transaction(async (tx) => {
        await tx.query(`INSERT INTO ${fish} VALUES ('eel', 1)`);
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    const names = await exec.query<{ name: string }>(
      `SELECT name FROM ${fish} WHERE name IN ('carp', 'eel')`,
    );
    expect(names.rows).toEqual([{ name: 'carp' }]);

    // The level shows in behaviour: a row another connection commits mid-transaction is seen by
    // the next read under read committed, and not under repeatable read.
    const seesConcurrentCommit = (isolationLevel: 'read committed' | 'repeatable read', name: string) =>
      exec.transaction(
        async (tx) => {
          await tx.query(`SELECT count(*) AS n FROM ${fish}`);
          await exec.query(`INSERT INTO ${fish} VALUES (${q.p(1)}, 1)`, [name]);
          const again = await tx.query(`SELECT name FROM ${fish} WHERE name = ${q.p(1)}`, [name]);
          return again.rowCount === 1;
        },
        { isolationLevel },
      );
    expect(await seesConcurrentCommit('read committed', 'rc-bass')).toBe(true);
    expect(await seesConcurrentCommit('repeatable read', 'rr-bass')).toBe(false);
  });

  it('withConnection holds one connection', async () => {
    const ids = await exec.withConnection!(async (conn) => {
      const a = await conn.query<{ id: number }>(q.connectionId);
      const b = await conn.query<{ id: number }>(q.connectionId);
      return [a.rows[0]!.id, b.rows[0]!.id];
    });
    expect(ids[0]).toBe(ids[1]);
  });

  it('is bound to the transaction when given one, and transactional only on a Kysely', async () => {
    expect(isTransactional(exec)).toBe(true);
    await db.transaction().execute(async (trx) => {
      const inTx = kyselyExecutor(trx);
      expect(isTransactional(inTx)).toBe(false);
      await inTx.query(`INSERT INTO ${fish} VALUES ('perch', 1)`);
      // Not visible to another connection before the commit.
      const outside = await exec.query(`SELECT 1 FROM ${fish} WHERE name = 'perch'`);
      expect(outside.rowCount).toBe(0);
    });
    const trx = await db.startTransaction().execute();
    const inControlled = kyselyExecutor(trx);
    expect(isTransactional(inControlled)).toBe(false);
    await inControlled.query(`INSERT INTO ${fish} VALUES ('bream', 1)`);
    await trx.rollback().execute();
    const after = await exec.query(`SELECT name FROM ${fish} WHERE name IN ('perch', 'bream')`);
    expect(after.rows).toEqual([{ name: 'perch' }]);
  });
});

describe('kyselyExecutor on PGlite', () => {
  it('counts rows read although PGlite reports none affected', async () => {
    const db = new Kysely<any>({ dialect: new PGliteDialect({ pglite: await PGlite.create() }) });
    try {
      const exec = kyselyExecutor(db);
      const read = await exec.query('SELECT * FROM generate_series(1, 3) AS n');
      expect(read.rowCount).toBe(3);
      await exec.query('CREATE TABLE t (n int)');
      expect((await exec.query('INSERT INTO t SELECT * FROM generate_series(1, 4)')).rowCount).toBe(4);
      expect((await exec.query('DELETE FROM t WHERE n > 1')).rowCount).toBe(3);
    } finally {
      await db.destroy();
    }
  });
});
