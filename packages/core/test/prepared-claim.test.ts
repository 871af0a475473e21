// node-postgres executors prepare the relay's claim once per connection (QueryOptions.name),
// unless created with `prepare: false`.
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { pgClient, pgPool, postgres, SqlMessageStore } from '../src/index.js';
import { uniqueName } from '../src/testing/index.js';
import { pgUrl } from './databases.js';

let pool: pg.Pool | undefined;
let schema: string | undefined;
afterEach(async () => {
  if (pool && schema) await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await pool?.end();
  pool = undefined;
});

/** Names of the statements prepared on the pool's one connection. */
async function prepared(p: pg.Pool): Promise<string[]> {
  const { rows } = await p.query<{ name: string }>('SELECT name FROM pg_prepared_statements ORDER BY name');
  return rows.map((r) => r.name);
}

describe.each(['none', 'key'] as const)('the claim on node-postgres (ordering %s)', (ordering) => {
  it('is prepared once per connection under its name, and planned again with prepare: false', async () => {
    pool = new pg.Pool({ connectionString: pgUrl, max: 1 });
    schema = uniqueName('prep');
    const dialect = postgres({ schema, ordering });
    const name = dialect.claim(10).name!;
    expect(name).toMatch(/^troutbox_claim_[0-9a-z]+$/);
    // Another table's claim has another name.
    expect(postgres({ schema, table: 'other', ordering }).claim(10).name).not.toBe(name);

    const store = new SqlMessageStore({ dialect, db: pgPool(pool) });
    await store.migrate();
    await store.db.transaction((tx) => store.add(tx, [{ topic: 't', key: 'k', payload: 1 }]));
    for (let i = 0; i < 3; i++) {
      const claimed = await store.transaction((tx) => store.claim(tx, 10));
      expect(claimed).toHaveLength(1);
    }
    expect(await prepared(pool)).toEqual([name]);

    // A server that forgot it (DEALLOCATE ALL, a pooler's reset) fails that claim; the
    // connection is replaced, and the next claim prepares it again.
    await pool.query('DEALLOCATE ALL');
    await expect(store.transaction((tx) => store.claim(tx, 10))).rejects.toMatchObject({ code: '26000' });
    expect(await store.transaction((tx) => store.claim(tx, 10))).toHaveLength(1);
    expect(await prepared(pool)).toEqual([name]);

    const plainPool = new pg.Pool({ connectionString: pgUrl, max: 1 });
    try {
      const unprepared = new SqlMessageStore({ dialect, db: pgPool(plainPool, { prepare: false }) });
      expect(await unprepared.transaction((tx) => unprepared.claim(tx, 10))).toHaveLength(1);
      expect(await prepared(plainPool)).toEqual([]);
    } finally {
      await plainPool.end();
    }

    // pgClient on a caller's client: the same choice.
    const client = new pg.Client({ connectionString: pgUrl });
    await client.connect();
    try {
      await client.query('BEGIN');
      const count = async () =>
        (await client.query('SELECT count(*)::int AS n FROM pg_prepared_statements')).rows[0].n;
      expect(await store.claim(pgClient(client, { prepare: false }), 10)).toHaveLength(1);
      expect(await count()).toBe(0);
      expect(await store.claim(pgClient(client), 10)).toHaveLength(1);
      expect(await count()).toBe(1);
      await client.query('ROLLBACK');
    } finally {
      await client.end();
    }
  });
});
