import { uniqueName } from '@troutbox/core/testing';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMessage } from './add-message.js';
import { outboxMessageEntity } from './entity.js';
import { typeormExecutor } from './executor.js';
import { createOutboxMigrations } from './migrations.js';
import { databases, outboxDialect, testDataSource } from './test-support.js';

const TABLE = 'outbox_messages';

describe.each(databases)('shipped TypeORM migrations on $name', (db) => {
  let dataSource: DataSource;
  let close: () => Promise<void>;
  const viaTypeorm = uniqueName('mig_typeorm');
  let viaCore: string;

  beforeAll(async () => {
    // The data source's own namespace holds TypeORM's migrations table and core's reference
    // table; the outbox of the migrations goes into a schema (database) of its own that they
    // create.
    ({
      dataSource,
      ns: viaCore,
      close,
    } = await testDataSource(db, {
      migrations: createOutboxMigrations({ type: db.type, ...db.where(viaTypeorm) }),
    }));
    await outboxDialect(db, viaCore).migrate(typeormExecutor(dataSource));
  });
  afterAll(async () => {
    await db.dropIsolated(viaTypeorm);
    await close?.();
  });

  it('run by TypeORM’s migration runner, give the table core’s migrate() gives', async () => {
    const applied = await dataSource.runMigrations();
    expect(applied.map((m) => m.name)).toEqual([
      `TroutboxCreateOutbox.${viaTypeorm}.${TABLE}.1767225600000`,
      `TroutboxKeyOrdering.${viaTypeorm}.${TABLE}.1767225600001`,
    ]);
    const expected = await db.describeTable(dataSource, viaCore, TABLE);
    const actual = await db.describeTable(dataSource, viaTypeorm, TABLE);
    expect(expected.columns).toHaveLength(13);
    expect(new Set(expected.indexNames)).toEqual(new Set(db.outboxIndexNames(TABLE)));
    expect(actual).toEqual(expected);
    // A second run finds nothing to do.
    expect(await dataSource.runMigrations()).toEqual([]);
  });

  it('undo with a real down(), and apply again', async () => {
    await dataSource.undoLastMigration();
    // Migration 2 undone: the table stays, without the key counters.
    expect(await db.tableExists(dataSource, viaTypeorm, TABLE)).toBe(true);
    expect(await db.tableExists(dataSource, viaTypeorm, `${TABLE}_keys`)).toBe(false);
    await dataSource.undoLastMigration();
    expect(await db.tableExists(dataSource, viaTypeorm, TABLE)).toBe(false);
    expect(await dataSource.runMigrations()).toHaveLength(2);
    expect(await db.tableExists(dataSource, viaTypeorm, TABLE)).toBe(true);
  });

  it('without a schema or database, go to the data source’s default', async () => {
    // PostgreSQL's default is the public schema (shared: hence a unique table name), MySQL's the
    // data source's database.
    const table = uniqueName('default_outbox');
    const {
      dataSource: plain,
      ns,
      close: closePlain,
    } = await testDataSource(db, { migrations: createOutboxMigrations({ type: db.type, table }) });
    const [home, named] = db.type === 'postgres' ? ['public', 'public.'] : [ns, ''];
    try {
      const [migration] = await plain.runMigrations();
      expect(migration!.name).toBe(`TroutboxCreateOutbox.${named}${table}.1767225600000`);
      expect(await db.tableExists(plain, home, table)).toBe(true);
    } finally {
      await plain.undoLastMigration();
      await plain.undoLastMigration();
      expect(await db.tableExists(plain, home, table)).toBe(false);
      await closePlain();
    }
  });
});

describe('createOutboxMigrations', () => {
  it('names each table’s migrations apart and checks options', () => {
    const [a] = createOutboxMigrations({ schema: 'app', table: 'events', timestamp: 1700000000000 });
    expect(new a!().name).toBe('TroutboxCreateOutbox.app.events.1700000000000');
    const [m] = createOutboxMigrations({ type: 'mysql', database: 'shop', table: 'events' });
    expect(new m!().name).toBe('TroutboxCreateOutbox.shop.events.1767225600000');
    expect(() => createOutboxMigrations({ timestamp: 12 })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION' }),
    );
    expect(() => createOutboxMigrations({ schema: 'x"y' })).toThrow(
      expect.objectContaining({ code: 'INVALID_IDENTIFIER' }),
    );
    expect(() => createOutboxMigrations({ type: 'sqlite' })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION' }),
    );
    // A schema on MySQL (or a database on PostgreSQL) would put the table somewhere unexpected.
    expect(() => createOutboxMigrations({ type: 'mariadb', schema: 'app' })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION' }),
    );
    expect(() => createOutboxMigrations({ database: 'app' })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION' }),
    );
  });
});

describe.each(databases)('outboxMessageEntity on $name', (db) => {
  let dataSource: DataSource;
  let ns: string;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ns = uniqueName('entity');
    const Row = outboxMessageEntity({ type: db.type, ...db.where(ns), synchronize: true });
    ({ dataSource, close } = await testDataSource(db, { ns, entities: [Row] }));
    await outboxDialect(db, ns).migrate(typeormExecutor(dataSource));
  });
  afterAll(() => close?.());

  it('describes the table exactly: TypeORM’s schema builder finds nothing to change', async () => {
    const pending = await dataSource.driver.createSchemaBuilder().log();
    expect(pending.upQueries.map((q) => q.query)).toEqual([]);
  });

  it('reads what addMessage wrote', async () => {
    const Row = dataSource.entityMetadatas[0]!.target as ReturnType<typeof outboxMessageEntity>;
    const before = Date.now();
    await dataSource.transaction((manager) =>
      addMessage(
        manager,
        { topic: 'read-me', key: 'k', payload: { a: 1 }, headers: { h: 'v' } },
        db.where(ns),
      ),
    );
    const rows = await dataSource.getRepository(Row).findBy({ topic: 'read-me' });
    expect(rows).toHaveLength(1);
    const [row] = rows;
    expect(row).toMatchObject({
      topic: 'read-me',
      key: 'k',
      contentType: 'application/json',
      status: 'pending',
      attempts: 0,
      headers: { h: 'v' },
      lastError: null,
    });
    expect(typeof row!.id).toBe('string');
    expect(JSON.parse(Buffer.from(row!.payload).toString('utf8'))).toEqual({ a: 1 });
    expect(row!.sentAt).toBeNull();
    // Read back as the instant it was written (UTC DATETIME on MySQL, timestamptz on PostgreSQL).
    for (const time of [row!.createdAt, row!.availableAt]) {
      expect(time).toBeInstanceOf(Date);
      expect(Math.abs(time.getTime() - before)).toBeLessThan(60_000);
    }
  });
});

describe('outboxMessageEntity options', () => {
  it('rejects bad names and options', () => {
    expect(() => outboxMessageEntity({ table: '1abc' })).toThrow(
      expect.objectContaining({ code: 'INVALID_IDENTIFIER' }),
    );
    expect(() => outboxMessageEntity({ type: 'mysql', database: 'a b' })).toThrow(
      expect.objectContaining({ code: 'INVALID_IDENTIFIER' }),
    );
    expect(() => outboxMessageEntity({ type: 'mysql', schema: 'app' })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION' }),
    );
    expect(() => outboxMessageEntity({ type: 'oracle' })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION' }),
    );
    expect(() => outboxMessageEntity({ tabel: 'x' } as never)).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION' }),
    );
  });
});
