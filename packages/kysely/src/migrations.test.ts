import { isOutboxError, postgres } from '@troutbox/core';
import { uniqueName } from '@troutbox/core/testing';
import { type Kysely, sql } from 'kysely';
import { type MigrationProvider, Migrator, NO_MIGRATIONS } from 'kysely/migration';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databases, type TestDatabase } from './databases.test-support.js';
import { kyselyOutbox, mergeMigrationProviders, outboxMigrations, outboxMigratorTables } from './index.js';

describe.each(databases)('outboxMigrations with Kysely’s Migrator on $label', (database) => {
  const opened: TestDatabase[] = [];
  let main: TestDatabase;
  let db: Kysely<any>;
  beforeAll(async () => {
    main = await database.open('kymig', { connections: 6 });
    opened.push(main);
    db = main.db;
  });
  afterAll(async () => {
    // Last opened first: the main instance, opened first, carries the drops of the others.
    for (const t of opened.reverse()) await t.close();
  });
  /** Another schema (database) on the same server, dropped after the tests. */
  async function newSchema(prefix: string): Promise<string> {
    const t = await database.open(prefix, { connections: 1 });
    opened.push(t);
    return t.schema;
  }

  /** The outbox's own Migrator, its history kept in the test's schema so tests run in parallel. */
  const outboxMigrator = (schema: string, table?: string) =>
    new Migrator({
      db,
      provider: outboxMigrations({ dialect: database.dialect, schema, table }),
      ...outboxMigratorTables,
      migrationTableSchema: schema,
    });
  const describeTable = (schema: string, table: string) => database.describeTable(db, schema, table);
  const tableExists = (schema: string, table: string) => database.tableExists(db, schema, table);

  it('gives the table core’s migrate() makes: same columns, indexes and constraints', async () => {
    const viaKysely = await newSchema('kymig');
    const viaCore = await newSchema('kycore');
    const { error, results } = await outboxMigrator(viaKysely, 'events').migrateToLatest();
    expect(error).toBeUndefined();
    expect(results?.map((r) => [r.migrationName, r.status])).toEqual([
      ['0001_create_outbox', 'Success'],
      ['0002_key_ordering', 'Success'],
    ]);

    await kyselyOutbox({ dialect: database.dialect, schema: viaCore, table: 'events' }).store(db).migrate();

    const mine = await describeTable(viaKysely, 'events');
    const core = await describeTable(viaCore, 'events');
    expect((mine as { columns: unknown[] }).columns).toHaveLength(13);
    expect((mine as { indexes: unknown[] }).indexes.length).toBeGreaterThanOrEqual(3);
    expect((mine as { constraints: unknown[] }).constraints).toHaveLength(
      database.dialect === 'postgres' ? 2 : 1,
    );
    expect(mine).toEqual(core);

    // The table works for the store, through Kysely.
    const store = kyselyOutbox({ dialect: database.dialect, schema: viaKysely, table: 'events' }).store(db);
    await store.db.transaction((tx) => store.add(tx, { topic: 'migrated', payload: 1 }));
    const claimed = await store.db.transaction((tx) => store.claim(tx, 10));
    expect(claimed.map((m) => m.topic)).toEqual(['migrated']);

    // Running again finds nothing to do.
    const again = await outboxMigrator(viaKysely, 'events').migrateToLatest();
    expect(again.error).toBeUndefined();
    expect(again.results).toEqual([]);
  });

  it('migrating down removes the table and leaves the schema', async () => {
    const schema = await newSchema('kydown');
    const migrator = outboxMigrator(schema);
    expect((await migrator.migrateToLatest()).error).toBeUndefined();
    expect(await tableExists(schema, 'outbox_messages')).toBe(true);
    const down = await migrator.migrateTo(NO_MIGRATIONS);
    expect(down.error).toBeUndefined();
    expect(down.results?.map((r) => [r.migrationName, r.direction, r.status])).toEqual([
      ['0002_key_ordering', 'Down', 'Success'],
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

  it('creates the schema when it is missing, and leaves it on the way down', async () => {
    const fresh = uniqueName('kyfresh');
    opened.push({ db, schema: fresh, close: () => database.dropSchema(db, fresh) });
    // The history stays in the test's schema, so only the migration itself can create `fresh`.
    const migrator = new Migrator({
      db,
      provider: outboxMigrations({ dialect: database.dialect, schema: fresh }),
      ...outboxMigratorTables,
      migrationTableSchema: main.schema,
    });
    expect((await migrator.migrateToLatest()).error).toBeUndefined();
    expect(await tableExists(fresh, 'outbox_messages')).toBe(true);
    expect((await migrator.migrateTo(NO_MIGRATIONS)).error).toBeUndefined();
    expect(await tableExists(fresh, 'outbox_messages')).toBe(false);
    const schemata = await sql<{ n: number | string }>`
      SELECT count(*) AS n FROM information_schema.schemata WHERE schema_name = ${fresh}`.execute(db);
    expect(Number(schemata.rows[0]!.n)).toBe(1);
  });

  it('two migrators starting together apply the migration once', async () => {
    const schema = await newSchema('kyrace');
    const results = await Promise.all([
      outboxMigrator(schema).migrateToLatest(),
      outboxMigrator(schema).migrateToLatest(),
    ]);
    expect(results.map((r) => r.error)).toEqual([undefined, undefined]);
    const applied = results.flatMap((r) => r.results ?? []).filter((r) => r.status === 'Success');
    expect(applied.map((r) => r.migrationName)).toEqual(['0001_create_outbox', '0002_key_ordering']);
    expect(await tableExists(schema, 'outbox_messages')).toBe(true);
  });

  it('merges with the application’s provider: one Migrator, one history', async () => {
    const schema = await newSchema('kymerge');
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

    const merged = mergeMigrationProviders({
      '': appProvider,
      'troutbox/': outboxMigrations({ dialect: database.dialect, schema }),
    });
    const first = await migrator(merged, true).migrateToLatest();
    expect(first.error).toBeUndefined();
    expect(first.results?.map((r) => r.migrationName)).toEqual([
      'troutbox/0001_create_outbox',
      'troutbox/0002_key_ordering',
    ]);
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
    expect(await tableExists(schema, 'outbox_messages')).toBe(true);
    await migrator(merged, true).migrateDown();
    expect(await tableExists(schema, 'outbox_messages')).toBe(false);
  });
});

describe('outboxMigrations', () => {
  it('names migrations so that Kysely’s order is core’s version order', async () => {
    const names = Object.keys(await outboxMigrations().getMigrations());
    const versions = postgres()
      .migrations()
      .map((m) => m.version);
    expect(names).toHaveLength(versions.length);
    expect(names[0]).toBe('0001_create_outbox');
    expect([...names].sort()).toEqual(names);
  });

  it('refuses two providers that yield the same migration name', async () => {
    const same = mergeMigrationProviders({ '': outboxMigrations(), 'x/': outboxMigrations() });
    expect(Object.keys(await same.getMigrations())).toEqual([
      '0001_create_outbox',
      '0002_key_ordering',
      'x/0001_create_outbox',
      'x/0002_key_ordering',
    ]);
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
