import { afterAll, describe, expect, it } from 'vitest';
import { isOutboxError, SqlMessageStore } from '../src/index.js';
import { uniqueName } from '../src/testing/index.js';
import { databases, type TestPool } from './helpers.js';

describe.each(databases)('migrations on $label', (database) => {
  const admin = database.connect({ connections: 2 });
  const namespaces: string[] = [];
  const pools: TestPool[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    await Promise.all(pools.map((p) => p.end()));
    for (const c of cleanups) await c();
    for (const n of namespaces) await database.dropNamespace(admin, n);
    await admin.end();
  });

  function newNamespace(): string {
    const namespace = uniqueName('mig');
    namespaces.push(namespace);
    return namespace;
  }
  function newPool(): TestPool {
    const pool = database.connect({ connections: 2 });
    pools.push(pool);
    return pool;
  }
  const tableExists = (namespace: string, table = 'outbox_messages') =>
    database.tableExists(admin, namespace, table);

  it('four processes migrating at once all succeed, and each migration is applied once', async () => {
    const namespace = newNamespace();
    const dialect = database.dialect(namespace);
    const results = await Promise.all(Array.from({ length: 4 }, () => dialect.migrate(newPool().db)));
    expect(results.map((r) => r.version)).toEqual([2, 2, 2, 2]);
    expect(results.flatMap((r) => r.applied)).toEqual([1, 2]);
    const rows = await admin.sql<{ version: number; name: string }>(
      `SELECT version, name FROM ${database.qualify(namespace, 'outbox_messages_migrations')}`,
    );
    expect(rows.map((r) => ({ version: Number(r.version), name: r.name }))).toEqual([
      { version: 1, name: 'create_outbox' },
      { version: 2, name: 'key_ordering' },
    ]);
    expect(await tableExists(namespace)).toBe(true);
  });

  it('rollback removes the table; migrate brings it back', async () => {
    const namespace = newNamespace();
    const dialect = database.dialect(namespace, 'events');
    const { db } = newPool();
    expect(await dialect.migrate(db)).toEqual({ applied: [1, 2], version: 2 });
    expect(await tableExists(namespace, 'events')).toBe(true);
    expect(await tableExists(namespace, 'events_keys')).toBe(true);
    // Down to 1: the ordering column, index and key counters go, the table stays.
    expect(await dialect.rollback(db, { to: 1 })).toEqual({ applied: [2], version: 1 });
    expect(await tableExists(namespace, 'events_keys')).toBe(false);
    expect(await tableExists(namespace, 'events')).toBe(true);
    expect(await dialect.rollback(db, { to: 0 })).toEqual({ applied: [1], version: 0 });
    expect(await tableExists(namespace, 'events')).toBe(false);
    expect(await dialect.rollback(db, { to: 0 })).toEqual({ applied: [], version: 0 });
    expect(await dialect.migrate(db)).toEqual({ applied: [1, 2], version: 2 });
    expect(await tableExists(namespace, 'events')).toBe(true);
  });

  it('the exported migrations() SQL works when run by hand, and its index serves the claim', async () => {
    const namespace = newNamespace();
    const dialect = database.dialect(namespace);
    const pool = newPool();
    await database.createNamespace(pool, namespace);
    const migrations = dialect.migrations();
    expect(migrations.map((m) => m.version)).toEqual([1, 2]);
    for (const m of migrations) for (const sql of m.up) await pool.sql(sql);
    expect(await tableExists(namespace)).toBe(true);
    // Re-runnable, as another tool may apply them after core's migrate() did (or a crash
    // between a statement and the recorded version may leave them half done).
    for (const m of migrations) for (const sql of m.up) await pool.sql(sql);
    // No value is spliced in: the SQL names only the validated, quoted identifiers.
    expect(migrations[0]!.up.join('\n')).toContain(database.qualify(namespace, 'outbox_messages'));

    const store = new SqlMessageStore({ dialect, db: pool.db });
    await store.db.transaction((tx) => store.add(tx, { topic: 'by-hand', payload: { ok: true } }));
    const claimed = await store.transaction(async (tx) => {
      const batch = await store.claim(tx, 10);
      await store.markSent(
        tx,
        batch.map((m) => m.id),
      );
      return batch;
    });
    expect(claimed.map((m) => m.topic)).toEqual(['by-hand']);

    // The claim walks the pending rows through its index, already in due order: no sort.
    const { plan, indexes, sorts } = await database.explainClaim(pool, dialect);
    expect(indexes, plan).toEqual([database.claimIndex]);
    expect(sorts, plan).toBe(false);

    for (const m of [...migrations].reverse()) for (const sql of m.down) await pool.sql(sql);
    expect(await tableExists(namespace)).toBe(false);
    expect(await tableExists(namespace, 'outbox_messages_keys')).toBe(false);
  });

  it('refuses a schema newer than this library', async () => {
    const namespace = newNamespace();
    const dialect = database.dialect(namespace);
    const { db } = newPool();
    await dialect.migrate(db);
    await admin.sql(
      `INSERT INTO ${database.qualify(namespace, 'outbox_messages_migrations')} (version, name, applied_at) VALUES (99, 'future', CURRENT_TIMESTAMP)`,
    );
    const error = await dialect.migrate(db).catch((e: unknown) => e);
    expect(isOutboxError(error, 'MIGRATION_FAILED')).toBe(true);
    expect(String(error)).toContain('99');
  });

  it('a login with rights only inside its own namespace migrates there', async () => {
    const namespace = uniqueName('mig');
    const login = await database.restrictedLogin(admin, namespace);
    cleanups.push(login.drop);
    expect(await login.canCreateNamespaces()).toBe(false);
    const store = new SqlMessageStore({ dialect: database.dialect(namespace), db: login.pool.db });
    expect(await store.migrate()).toEqual({ applied: [1, 2], version: 2 });
    await store.db.transaction((tx) => store.add(tx, { topic: 'owned', payload: 1 }));
    expect((await store.stats()).pending).toBe(1);
  });
});
