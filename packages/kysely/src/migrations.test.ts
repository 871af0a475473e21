import { isOutboxError, pgPool, postgres, SqlMessageStore } from '@troutbox/core';
import { uniqueName } from '@troutbox/core/testing';
import { Kysely, PostgresDialect, sql } from 'kysely';
import { type MigrationProvider, Migrator } from 'kysely/migration';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { kyselyExecutor, mergeMigrationProviders, outboxMigrations, outboxMigratorTables } from './index.js';

const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

describe('outboxMigrations with Kysely’s Migrator', () => {
  const pool = new pg.Pool({ connectionString: url, max: 6 });
  const db = new Kysely<any>({ dialect: new PostgresDialect({ pool }) });
  const schemas: string[] = [];
  const newSchema = (prefix: string) => {
    const name = uniqueName(prefix);
    schemas.push(name);
    return name;
  };
  afterAll(async () => {
    for (const s of schemas) await db.schema.dropSchema(s).ifExists().cascade().execute();
    await db.destroy();
  });

  /** The outbox's own Migrator, its history kept in the test's schema so tests run in parallel. */
  const outboxMigrator = (schema: string, table?: string) =>
    new Migrator({
      db,
      provider: outboxMigrations({ schema, table }),
      ...outboxMigratorTables,
      migrationTableSchema: schema,
    });

  async function describeTable(schema: string, table: string) {
    const columns = await sql<Record<string, unknown>>`
      SELECT column_name, ordinal_position, data_type, is_nullable, column_default, is_identity, identity_generation
      FROM information_schema.columns WHERE table_schema = ${schema} AND table_name = ${table}
      ORDER BY ordinal_position`.execute(db);
    const indexes = await sql<{ indexname: string; indexdef: string }>`
      SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = ${schema} AND tablename = ${table}
      ORDER BY indexname`.execute(db);
    const constraints = await sql<{ conname: string; def: string }>`
      SELECT c.conname, pg_get_constraintdef(c.oid) AS def FROM pg_constraint c
      WHERE c.conrelid = to_regclass(${`"${schema}"."${table}"`}) ORDER BY c.conname`.execute(db);
    return {
      columns: columns.rows,
      // The schema name differs between the two tables; nothing else may.
      indexes: indexes.rows.map((i) => ({ ...i, indexdef: i.indexdef.replaceAll(schema, '<schema>') })),
      constraints: constraints.rows,
    };
  }

  const tableExists = async (schema: string, table: string) =>
    (await sql<{ t: string | null }>`SELECT to_regclass(${`"${schema}"."${table}"`})::text AS t`.execute(db))
      .rows[0]!.t !== null;

  it('names migrations so that Kysely’s order is core’s version order', async () => {
    const names = Object.keys(await outboxMigrations().getMigrations());
    const versions = postgres()
      .migrations()
      .map((m) => m.version);
    expect(names).toHaveLength(versions.length);
    expect(names[0]).toBe('0001_create_outbox');
    expect([...names].sort()).toEqual(names);
  });

  it('gives the table core’s migrate() makes: same columns, indexes and constraints', async () => {
    const viaKysely = newSchema('kymig');
    const viaCore = newSchema('kycore');
    const { error, results } = await outboxMigrator(viaKysely, 'events').migrateToLatest();
    expect(error).toBeUndefined();
    expect(results?.map((r) => [r.migrationName, r.status])).toEqual([['0001_create_outbox', 'Success']]);

    await postgres({ schema: viaCore, table: 'events' }).migrate(pgPool(pool));

    const mine = await describeTable(viaKysely, 'events');
    const core = await describeTable(viaCore, 'events');
    expect(mine.columns.length).toBeGreaterThanOrEqual(12);
    expect(mine.indexes.map((i) => i.indexname)).toEqual([
      'events_dead_idx',
      'events_pending_idx',
      'events_pkey',
      'events_sent_idx',
    ]);
    expect(mine).toEqual(core);

    // The table works for the store, through Kysely.
    const store = new SqlMessageStore({
      dialect: postgres({ schema: viaKysely, table: 'events' }),
      db: kyselyExecutor(db),
    });
    await store.db.transaction((tx) => store.add(tx, { topic: 'migrated', payload: 1 }));
    const claimed = await store.db.transaction((tx) => store.claim(tx, 10));
    expect(claimed.map((m) => m.topic)).toEqual(['migrated']);

    // Running again finds nothing to do.
    const again = await outboxMigrator(viaKysely, 'events').migrateToLatest();
    expect(again.error).toBeUndefined();
    expect(again.results).toEqual([]);
  });

  it('migrating down removes the table and leaves the schema', async () => {
    const schema = newSchema('kydown');
    const migrator = outboxMigrator(schema);
    expect((await migrator.migrateToLatest()).error).toBeUndefined();
    expect(await tableExists(schema, 'outbox_messages')).toBe(true);
    const down = await migrator.migrateDown();
    expect(down.error).toBeUndefined();
    expect(down.results?.map((r) => [r.migrationName, r.direction, r.status])).toEqual([
      ['0001_create_outbox', 'Down', 'Success'],
    ]);
    expect(await tableExists(schema, 'outbox_messages')).toBe(false);
    const left = await sql<{
      n: string;
    }>`SELECT count(*) AS n FROM information_schema.schemata WHERE schema_name = ${schema}`.execute(db);
    expect(Number(left.rows[0]!.n)).toBe(1);
    // And up again.
    expect((await migrator.migrateToLatest()).error).toBeUndefined();
    expect(await tableExists(schema, 'outbox_messages')).toBe(true);
  });

  it('two migrators starting together apply the migration once', async () => {
    const schema = newSchema('kyrace');
    const results = await Promise.all([
      outboxMigrator(schema).migrateToLatest(),
      outboxMigrator(schema).migrateToLatest(),
    ]);
    expect(results.map((r) => r.error)).toEqual([undefined, undefined]);
    const applied = results.flatMap((r) => r.results ?? []).filter((r) => r.status === 'Success');
    expect(applied.map((r) => r.migrationName)).toEqual(['0001_create_outbox']);
    expect(await tableExists(schema, 'outbox_messages')).toBe(true);
  });

  it('merges with the application’s provider: one Migrator, one history', async () => {
    const schema = newSchema('kymerge');
    const appMigration = (table: string) => ({
      up: (k: Kysely<any>) =>
        k.schema
          .withSchema(schema)
          .createTable(table)
          .addColumn('id', 'integer', (c) => c.primaryKey())
          .execute(),
      down: (k: Kysely<any>) => k.schema.withSchema(schema).dropTable(table).execute(),
    });
    const app: Record<string, ReturnType<typeof appMigration>> = {
      '2024_01_01_orders': appMigration('orders'),
    };
    const appProvider: MigrationProvider = { getMigrations: async () => ({ ...app }) };
    const migrator = (provider: MigrationProvider, allowUnorderedMigrations: boolean) =>
      new Migrator({ db, provider, migrationTableSchema: schema, allowUnorderedMigrations });

    // The application ran its migrations before it adopted troutbox.
    expect((await migrator(appProvider, false).migrateToLatest()).error).toBeUndefined();

    const merged = mergeMigrationProviders({ '': appProvider, 'troutbox/': outboxMigrations({ schema }) });
    const first = await migrator(merged, true).migrateToLatest();
    expect(first.error).toBeUndefined();
    expect(first.results?.map((r) => r.migrationName)).toEqual(['troutbox/0001_create_outbox']);
    expect(await tableExists(schema, 'outbox_messages')).toBe(true);

    // The application grows: its new name sorts before troutbox's, which already ran.
    app['2025_06_01_customers'] = appMigration('customers');
    const strict = await migrator(merged, false).migrateToLatest();
    expect(String(strict.error)).toMatch(/corrupted migrations/);
    const unordered = await migrator(merged, true).migrateToLatest();
    expect(unordered.error).toBeUndefined();
    expect(unordered.results?.map((r) => r.migrationName)).toEqual(['2025_06_01_customers']);
    expect(await tableExists(schema, 'customers')).toBe(true);

    // Down undoes the last applied first.
    await migrator(merged, true).migrateDown();
    expect(await tableExists(schema, 'customers')).toBe(false);
    await migrator(merged, true).migrateDown();
    expect(await tableExists(schema, 'outbox_messages')).toBe(false);
  });

  it('refuses two providers that yield the same migration name', async () => {
    const same = mergeMigrationProviders({ '': outboxMigrations(), 'x/': outboxMigrations() });
    expect(Object.keys(await same.getMigrations())).toEqual(['0001_create_outbox', 'x/0001_create_outbox']);
    const clash = mergeMigrationProviders({
      a: outboxMigrations(),
      a0001_create_: { getMigrations: async () => ({ outbox: { up: async () => {} } }) },
    });
    const error = await clash.getMigrations().catch((e: unknown) => e);
    expect(isOutboxError(error, 'INVALID_OPTION')).toBe(true);
    expect(() => mergeMigrationProviders({ app: {} as never })).toThrow(/not a migration provider/);
  });

  it('validates the schema and table names before any SQL exists', () => {
    const thrown = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return e;
      }
      return undefined;
    };
    const error = thrown(() => outboxMigrations({ schema: 'x"; DROP SCHEMA public; --' }));
    expect(isOutboxError(error, 'INVALID_IDENTIFIER')).toBe(true);
    expect(
      isOutboxError(
        thrown(() => outboxMigrations({ dialect: 'oracle' as never })),
        'INVALID_OPTION',
      ),
    ).toBe(true);
  });
});
