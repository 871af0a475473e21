// Rule: the dialect options a user gives are the ones the outbox runs with — core's postgres() and
// mysql() options beside the others, or a core Dialect — and an option name that means nothing
// (a typo, the other database's option, a table option beside a Dialect) is an INVALID_OPTION
// error in every factory of the package, never a silent default.
import { isOutboxError, mysql, postgres } from '@troutbox/core';
import { sql } from 'kysely';
import { Migrator } from 'kysely/migration';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databases, type TestDatabase } from './databases.test-support.js';
import { type KyselyOutbox, kyselyOutbox, outboxMigrations, outboxMigratorTables } from './index.js';

function invalidOption(make: () => unknown, message: RegExp): void {
  let error: unknown;
  try {
    make();
  } catch (e) {
    error = e;
  }
  expect(isOutboxError(error, 'INVALID_OPTION'), String(error)).toBe(true);
  expect((error as Error).message).toMatch(message);
}

describe.each(databases)('dialect options on $label', (database) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await database.open('kyopts', { connections: 4 });
  });
  afterAll(async () => {
    await t?.close();
  });

  /** The core dialect of this database for the test's schema. */
  const coreDialect = (table: string) =>
    database.dialect === 'postgres'
      ? postgres({ schema: t.schema, table, ordering: 'key' })
      : mysql({ database: t.schema, table, ordering: 'key' });

  /** Write keyed messages in one transaction and read back each row's key and seq. */
  async function writeKeyed(outbox: KyselyOutbox, table: string) {
    await outbox.store(t.db).migrate();
    await t.db.transaction().execute(async (trx) => {
      await outbox.addMessage(trx, [
        { topic: 'fish', key: 'trout', payload: 1 },
        { topic: 'fish', key: 'pike', payload: 2 },
        { topic: 'fish', key: 'trout', payload: 3 },
        { topic: 'fish', key: 'trout', payload: 4 },
        { topic: 'fish', key: 'pike', payload: 5 },
      ]);
    });
    const rows = await t.db
      .withSchema(t.schema)
      .selectFrom(table)
      .select(['key', 'seq'])
      .orderBy('id')
      .execute();
    return rows.map((r) => [r.key, r.seq === null ? null : Number(r.seq)]);
  }

  it.each([
    ['ordering beside the other options', 'ordered_opts'],
    ['a core Dialect with ordering', 'ordered_dialect'],
  ])(
    "kyselyOutbox with ordering: 'key' (%s) orders: keys get sequence numbers and a key waits behind its head",
    async (form, table) => {
      const outbox =
        form === 'ordering beside the other options'
          ? kyselyOutbox({ dialect: database.dialect, schema: t.schema, table, ordering: 'key' })
          : kyselyOutbox({ dialect: coreDialect(table) });
      expect(outbox.dialect.ordering).toBe('key');
      expect(await writeKeyed(outbox, table)).toEqual([
        ['trout', 1],
        ['pike', 1],
        ['trout', 2],
        ['trout', 3],
        ['pike', 2],
      ]);
      // A key's head waiting for a retry holds back the rest of its key, and only its key.
      const store = outbox.store(t.db);
      const payloadOf = (m: { payload: Uint8Array }) => JSON.parse(new TextDecoder().decode(m.payload));
      await store.db.transaction(async (tx) => {
        const head = (await store.claim(tx, 10)).find((m) => payloadOf(m) === 1)!;
        await store.complete(tx, [
          { id: head.id, status: 'retry', error: 'broker said no', delayMs: 60_000 },
        ]);
      });
      const claimed = await store.db.transaction((tx) => store.claim(tx, 10));
      expect(claimed.map((m) => [m.key, payloadOf(m)])).toEqual([
        ['pike', 2],
        ['pike', 5],
      ]);
    },
  );

  it('outboxMigrations and kyselyOutbox(…).migrations() make the table the dialect options describe', async () => {
    const table = 'migrated_ordered';
    const migrator = new Migrator({
      db: t.db,
      provider: kyselyOutbox({ dialect: coreDialect(table) }).migrations(),
      ...outboxMigratorTables,
      migrationTableName: 'troutbox_migration_dialect',
      migrationLockTableName: 'troutbox_migration_dialect_lock',
      migrationTableSchema: t.schema,
    });
    expect((await migrator.migrateToLatest()).error).toBeUndefined();
    expect(await database.tableExists(t.db, t.schema, table)).toBe(true);
    expect(await database.tableExists(t.db, t.schema, `${table}_keys`)).toBe(true);
    if (database.dialect === 'postgres') {
      // partitioned: true reaches core's DDL (it was dropped before): a partitioned table.
      const partitioned = new Migrator({
        db: t.db,
        provider: outboxMigrations({ schema: t.schema, table: 'by_day', partitioned: true }),
        ...outboxMigratorTables,
        migrationTableName: 'troutbox_migration_by_day',
        migrationLockTableName: 'troutbox_migration_by_day_lock',
        migrationTableSchema: t.schema,
      });
      expect((await partitioned.migrateToLatest()).error).toBeUndefined();
      const { rows } = await sql<{ kind: string }>`
        SELECT c.relkind AS kind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = ${t.schema} AND c.relname = 'by_day'`.execute(t.db);
      expect(rows).toEqual([{ kind: 'p' }]);
    }
  });

  it('an unknown option name is refused with INVALID_OPTION in every factory', () => {
    const dialect = database.dialect;
    const other = dialect === 'postgres' ? 'lockTimeoutSeconds' : 'notify';
    for (const [owner, make] of [
      ['kyselyOutbox', (o: object) => kyselyOutbox({ dialect, ...o } as never)],
      ['outboxMigrations', (o: object) => outboxMigrations({ dialect, ...o } as never)],
    ] as const) {
      invalidOption(() => make({ tabel: 'x' }), new RegExp(`^${owner}: unknown option "tabel"`));
      invalidOption(
        () => make({ [other]: 1 }),
        new RegExp(`${other} is an option of the .* dialect, not of ${dialect}`),
      );
      invalidOption(() => make({ ordering: 'by-key' }), /ordering must be 'none' or 'key'/);
      // Beside a core Dialect, the table's options belong in the Dialect.
      invalidOption(
        () => make({ dialect: coreDialect('x'), schema: 'elsewhere' }),
        new RegExp(`^${owner}: schema belongs to the dialect`),
      );
      invalidOption(
        () => make({ dialect: { name: dialect } }),
        /a dialect made by core's postgres\(\) or mysql\(\)/,
      );
    }
    // What only kyselyOutbox takes is not an option of the migrations.
    invalidOption(
      () => outboxMigrations({ dialect, autocommit: true } as never),
      /unknown option "autocommit"/,
    );
    invalidOption(() => kyselyOutbox(null as never), /kyselyOutbox: options must be an object/);
    expect(kyselyOutbox({ dialect, autocommit: true, onAdd: () => {}, limits: {} }).dialect.name).toBe(
      dialect,
    );
  });
});
