import { PGlite } from '@electric-sql/pglite';
import { isTransactional } from '@troutbox/core';
import { uniqueName } from '@troutbox/core/testing';
import { CamelCasePlugin, Kysely, PGliteDialect, PostgresDialect } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kyselyExecutor } from './index.js';

const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

describe('kyselyExecutor on PostgreSQL', () => {
  const schema = uniqueName('kyexec');
  const db = new Kysely<any>({
    dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 3 }) }),
    plugins: [new CamelCasePlugin()],
  });
  const exec = kyselyExecutor(db);

  beforeAll(async () => {
    await exec.query(`CREATE SCHEMA "${schema}"`);
    await exec.query(`CREATE TABLE "${schema}".fish (name text PRIMARY KEY, fish_count integer NOT NULL)`);
  });
  afterAll(async () => {
    await exec.query(`DROP SCHEMA "${schema}" CASCADE`);
    await db.destroy();
  });

  it('binds parameters and counts rows read and rows changed', async () => {
    const inserted = await exec.query(`INSERT INTO "${schema}".fish VALUES ($1, $2), ($3, $4)`, [
      'trout',
      1,
      'pike',
      2,
    ]);
    expect(inserted.rowCount).toBe(2);
    const updated = await exec.query(
      `UPDATE "${schema}".fish SET fish_count = fish_count + 1 WHERE name = $1`,
      ['trout'],
    );
    expect(updated).toEqual({ rows: [], rowCount: 1 });
    const read = await exec.query<{ name: string; fish_count: number }>(
      `SELECT name, fish_count FROM "${schema}".fish ORDER BY name`,
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
    expect((await exec.query('SELECT $1::text AS v', [odd])).rows).toEqual([{ v: odd }]);
  });

  it('commits, rolls back, and honours the isolation level core asks for', async () => {
    await exec.transaction(async (tx) => {
      await tx.query(`INSERT INTO "${schema}".fish VALUES ('carp', 1)`);
    });
    await expect(
      exec.transaction(async (tx) => {
        await tx.query(`INSERT INTO "${schema}".fish VALUES ('eel', 1)`);
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    const names = await exec.query<{ name: string }>(
      `SELECT name FROM "${schema}".fish WHERE name IN ('carp', 'eel')`,
    );
    expect(names.rows).toEqual([{ name: 'carp' }]);

    const level = (options?: { isolationLevel: 'serializable' | 'repeatable read' }) =>
      exec.transaction(
        async (tx) =>
          (await tx.query<{ transaction_isolation: string }>('SHOW transaction_isolation')).rows[0]!,
        options,
      );
    expect(await level()).toEqual({ transaction_isolation: 'read committed' });
    expect(await level({ isolationLevel: 'serializable' })).toEqual({
      transaction_isolation: 'serializable',
    });
    expect(await level({ isolationLevel: 'repeatable read' })).toEqual({
      transaction_isolation: 'repeatable read',
    });
  });

  it('withConnection holds one connection, for session-level locks', async () => {
    const pids = await exec.withConnection!(async (conn) => {
      const a = await conn.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      await conn.query('SELECT pg_advisory_lock(4242)');
      const b = await conn.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      const held = await conn.query<{ ok: boolean }>('SELECT pg_advisory_unlock(4242) AS ok');
      expect(held.rows[0]!.ok).toBe(true);
      return [a.rows[0]!.pid, b.rows[0]!.pid];
    });
    expect(pids[0]).toBe(pids[1]);
  });

  it('is bound to the transaction when given one, and transactional only on a Kysely', async () => {
    expect(isTransactional(exec)).toBe(true);
    await db.transaction().execute(async (trx) => {
      const inTx = kyselyExecutor(trx);
      expect(isTransactional(inTx)).toBe(false);
      await inTx.query(`INSERT INTO "${schema}".fish VALUES ('perch', 1)`);
      // Not visible to another connection before the commit.
      const outside = await exec.query(`SELECT 1 FROM "${schema}".fish WHERE name = 'perch'`);
      expect(outside.rowCount).toBe(0);
    });
    const trx = await db.startTransaction().execute();
    const inControlled = kyselyExecutor(trx);
    expect(isTransactional(inControlled)).toBe(false);
    await inControlled.query(`INSERT INTO "${schema}".fish VALUES ('bream', 1)`);
    await trx.rollback().execute();
    const after = await exec.query(`SELECT name FROM "${schema}".fish WHERE name IN ('perch', 'bream')`);
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
