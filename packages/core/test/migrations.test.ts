import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { isOutboxError, pgPool, postgres, SqlMessageStore } from '../src/index.js';
import { uniqueName } from '../src/testing/index.js';
import { url } from './helpers.js';

const admin = new pg.Pool({ connectionString: url, max: 2 });
const schemas: string[] = [];
const roles: string[] = [];
const pools: pg.Pool[] = [];
afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
  for (const s of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  for (const r of roles) await admin.query(`DROP ROLE IF EXISTS "${r}"`);
  await admin.end();
});

function newSchema(): string {
  const schema = uniqueName('mig');
  schemas.push(schema);
  return schema;
}
function newPool(config: pg.PoolConfig = {}): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: 2, ...config });
  pools.push(pool);
  return pool;
}
const tableExists = async (schema: string, table = 'outbox_messages') =>
  (await admin.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [`"${schema}"."${table}"`]))
    .rows[0]!.t !== null;

describe('migrations', () => {
  it('four processes migrating at once all succeed, and each migration is applied once', async () => {
    const schema = newSchema();
    const dialect = postgres({ schema });
    const results = await Promise.all(Array.from({ length: 4 }, () => dialect.migrate(pgPool(newPool()))));
    expect(results.map((r) => r.version)).toEqual([1, 1, 1, 1]);
    expect(results.flatMap((r) => r.applied)).toEqual([1]);
    const { rows } = await admin.query(`SELECT version, name FROM "${schema}"."outbox_messages_migrations"`);
    expect(rows).toEqual([{ version: 1, name: 'create_outbox' }]);
    expect(await tableExists(schema)).toBe(true);
  });

  it('rollback removes the table; migrate brings it back', async () => {
    const schema = newSchema();
    const dialect = postgres({ schema, table: 'events' });
    const db = pgPool(newPool());
    expect(await dialect.migrate(db)).toEqual({ applied: [1], version: 1 });
    expect(await tableExists(schema, 'events')).toBe(true);
    expect(await dialect.rollback(db, { to: 0 })).toEqual({ applied: [1], version: 0 });
    expect(await tableExists(schema, 'events')).toBe(false);
    expect(await dialect.rollback(db, { to: 0 })).toEqual({ applied: [], version: 0 });
    expect(await dialect.migrate(db)).toEqual({ applied: [1], version: 1 });
    expect(await tableExists(schema, 'events')).toBe(true);
  });

  it('the exported migrations() SQL works when run by hand, and its index serves the claim', async () => {
    const schema = newSchema();
    const dialect = postgres({ schema });
    const pool = newPool();
    await pool.query(`CREATE SCHEMA "${schema}"`);
    const migrations = dialect.migrations();
    expect(migrations.map((m) => m.version)).toEqual([1]);
    for (const m of migrations) for (const sql of m.up) await pool.query(sql);
    expect(await tableExists(schema)).toBe(true);
    // No value is spliced in: the SQL names only the validated, quoted identifiers.
    expect(migrations[0]!.up.join('\n')).toContain(`"${schema}"."outbox_messages"`);

    const store = new SqlMessageStore({ dialect, db: pgPool(pool) });
    await store.db.transaction((tx) => store.add(tx, { topic: 'by-hand', payload: { ok: true } }));
    const claimed = await store.db.transaction(async (tx) => {
      const batch = await store.claim(tx, 10);
      await store.markSent(
        tx,
        batch.map((m) => m.id),
      );
      return batch;
    });
    expect(claimed.map((m) => m.topic)).toEqual(['by-hand']);

    // The claim walks the partial pending index (forced off the tiny table's seq scan).
    const plan = await store.db.transaction(async (tx) => {
      await tx.query('SET LOCAL enable_seqscan = off');
      const { sql, params } = dialect.claim(500);
      const { rows } = await tx.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, params);
      return rows.map((r) => r['QUERY PLAN']).join('\n');
    });
    expect(plan).toContain('outbox_messages_pending_idx');
    expect(plan).not.toContain('Sort');

    for (const m of [...migrations].reverse()) for (const sql of m.down) await pool.query(sql);
    expect(await tableExists(schema)).toBe(false);
  });

  it('refuses a schema newer than this library', async () => {
    const schema = newSchema();
    const dialect = postgres({ schema });
    const db = pgPool(newPool());
    await dialect.migrate(db);
    await admin.query(
      `INSERT INTO "${schema}"."outbox_messages_migrations" (version, name) VALUES (99, 'future')`,
    );
    const error = await dialect.migrate(db).catch((e: unknown) => e);
    expect(isOutboxError(error, 'MIGRATION_FAILED')).toBe(true);
    expect(String(error)).toContain('99');
  });

  it('a role without CREATE on the database migrates into a schema it owns', async () => {
    const role = uniqueName('role');
    roles.push(role);
    const schema = newSchema();
    await admin.query(`CREATE ROLE "${role}" LOGIN`);
    await admin.query(`CREATE SCHEMA "${schema}" AUTHORIZATION "${role}"`);
    // In node-postgres the connection string wins over separate fields: put the role in it.
    const asRole = new URL(url);
    asRole.username = role;
    const pool = newPool({ connectionString: asRole.toString() });
    const { rows } = await pool.query<{ can: boolean }>(
      "SELECT has_database_privilege(current_user, current_database(), 'CREATE') AS can",
    );
    expect(rows[0]!.can).toBe(false);
    const store = new SqlMessageStore({ dialect: postgres({ schema }), db: pgPool(pool) });
    expect(await store.migrate()).toEqual({ applied: [1], version: 1 });
    await store.db.transaction((tx) => store.add(tx, { topic: 'owned', payload: 1 }));
    expect((await store.stats()).pending).toBe(1);
  });
});
