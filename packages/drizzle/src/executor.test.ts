import { waitFor } from '@troutbox/core/testing';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { drizzleExecutor } from './index.js';
import { databaseUrl, drivers } from './test/databases.js';

describe.each(drivers)('drizzleExecutor results (%s)', (_name, open) => {
  it('gives rows and a row count whatever the driver returns', async () => {
    const t = await open();
    try {
      const ex = drizzleExecutor(t.db);
      const select = await ex.query<{ n: number; s: string }>(
        'SELECT n, $1::text AS s FROM generate_series(1, 3) AS n',
        ['x'],
      );
      expect(select).toEqual({
        rows: [
          { n: 1, s: 'x' },
          { n: 2, s: 'x' },
          { n: 3, s: 'x' },
        ],
        rowCount: 3,
      });
      const changed = await ex.transaction(async (tx) => {
        await tx.query('CREATE TEMP TABLE t (n int) ON COMMIT DROP');
        await tx.query('INSERT INTO t SELECT generate_series(1, 5)');
        return tx.query('UPDATE t SET n = n + 1 WHERE n > $1', [2]);
      });
      expect(changed.rowCount).toBe(3);
      // A placeholder used twice, and '$1' inside a literal, which is not a placeholder.
      const twice = await ex.query<{ a: string; b: string; c: string }>(
        `SELECT $1::text AS a, $1::text AS b, '$1' AS c`,
        ['v'],
      );
      expect(twice.rows).toEqual([{ a: 'v', b: 'v', c: '$1' }]);
    } finally {
      await t.close();
    }
  });

  it("rethrows the driver's error with its SQLSTATE, not drizzle's wrapper with every parameter", async () => {
    const t = await open();
    try {
      const error = await drizzleExecutor(t.db)
        .query('SELECT 1 / $1::int', [0])
        .then(
          () => ({ message: 'no error' }),
          (e: unknown) => e as { code?: string; message: string },
        );
      expect(error).toMatchObject({ code: '22012' });
      expect(error.message).not.toMatch(/Failed query/);
    } finally {
      await t.close();
    }
  });
});

describe('drizzleExecutor on node-postgres, when the server ends the connection', () => {
  it('fails the transaction, reports the error, and does not crash the process', async () => {
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
    const errors: Error[] = [];
    const ex = drizzleExecutor(drizzle(pool), { onConnectionError: (e) => errors.push(e) });
    try {
      const failed = ex.transaction(async (tx) => {
        const { rows } = await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        await pool.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
        // The checked-out client emits `error` once the server's FATAL arrives.
        await waitFor(() => errors.length > 0, { message: 'the connection error event' });
        await tx.query('SELECT 1');
      });
      await expect(failed).rejects.toThrow();
      expect(errors[0]!.message).toMatch(/terminat/);
      // The broken client is not handed out again.
      expect((await ex.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    } finally {
      await pool.end();
    }
  });
});
