import { postgres } from '@troutbox/core';
import { uniqueName } from '@troutbox/core/testing';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMessage } from './add-message.js';
import { outboxMessageEntity } from './entity.js';
import { typeormExecutor } from './executor.js';
import { createOutboxMigrations } from './migrations.js';
import { testDataSource } from './test-support.js';

const TABLE = 'outbox_messages';

/** Columns, indexes and checks of a table, with the schema name taken out so two can be compared. */
async function describeTable(dataSource: DataSource, schema: string, table: string) {
  const columns = await dataSource.query(
    `SELECT column_name, data_type, is_nullable, column_default, is_identity, identity_generation, ordinal_position
       FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`,
    [schema, table],
  );
  const indexes = await dataSource.query(
    `SELECT indexname, replace(indexdef, $1, 'S') AS indexdef FROM pg_indexes
      WHERE schemaname = $2 AND tablename = $3 ORDER BY indexname`,
    [`${schema}.`, schema, table],
  );
  const constraints = await dataSource.query(
    `SELECT conname, contype, pg_get_constraintdef(c.oid) AS def FROM pg_constraint c
       JOIN pg_class t ON t.oid = c.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace
      WHERE n.nspname = $1 AND t.relname = $2 ORDER BY conname`,
    [schema, table],
  );
  return { columns, indexes, constraints };
}

describe('shipped TypeORM migrations', () => {
  let dataSource: DataSource;
  let close: () => Promise<void>;
  const viaTypeorm = uniqueName('mig_typeorm');
  let viaCore: string;

  beforeAll(async () => {
    // The data source's own schema holds TypeORM's migrations table and core's reference
    // table; the outbox of the migrations goes into a schema of its own that they create.
    ({
      dataSource,
      schema: viaCore,
      close,
    } = await testDataSource({
      migrations: createOutboxMigrations({ schema: viaTypeorm }),
    }));
    await postgres({ schema: viaCore }).migrate(typeormExecutor(dataSource));
  });
  afterAll(async () => {
    await dataSource?.query(`DROP SCHEMA IF EXISTS "${viaTypeorm}" CASCADE`);
    await close?.();
  });

  it('run by TypeORM’s migration runner, give the table core’s migrate() gives', async () => {
    const applied = await dataSource.runMigrations();
    expect(applied.map((m) => m.name)).toEqual([`TroutboxCreateOutbox.${viaTypeorm}.${TABLE}.1767225600000`]);
    const expected = await describeTable(dataSource, viaCore, TABLE);
    const actual = await describeTable(dataSource, viaTypeorm, TABLE);
    expect(expected.columns.length).toBe(12);
    expect(expected.indexes.map((i: { indexname: string }) => i.indexname)).toEqual([
      `${TABLE}_dead_idx`,
      `${TABLE}_pending_idx`,
      `${TABLE}_pkey`,
      `${TABLE}_sent_idx`,
    ]);
    expect(actual).toEqual(expected);
    // A second run finds nothing to do.
    expect(await dataSource.runMigrations()).toEqual([]);
  });

  it('undo with a real down(), and apply again', async () => {
    await dataSource.undoLastMigration();
    const [{ exists }] = await dataSource.query(`SELECT to_regclass($1) IS NOT NULL AS exists`, [
      `"${viaTypeorm}"."${TABLE}"`,
    ]);
    expect(exists).toBe(false);
    expect(await dataSource.runMigrations()).toHaveLength(1);
    const [{ again }] = await dataSource.query(`SELECT to_regclass($1) IS NOT NULL AS again`, [
      `"${viaTypeorm}"."${TABLE}"`,
    ]);
    expect(again).toBe(true);
  });

  it('names each table’s migrations apart and checks options', () => {
    const [a] = createOutboxMigrations({ schema: 'app', table: 'events', timestamp: 1700000000000 });
    expect(new a!().name).toBe('TroutboxCreateOutbox.app.events.1700000000000');
    expect(() => createOutboxMigrations({ timestamp: 12 })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION' }),
    );
    expect(() => createOutboxMigrations({ schema: 'x"y' })).toThrow(
      expect.objectContaining({ code: 'INVALID_IDENTIFIER' }),
    );
    expect(() => createOutboxMigrations({ type: 'mysql' })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION' }),
    );
  });
});

describe('outboxMessageEntity', () => {
  let dataSource: DataSource;
  let schema: string;
  let close: () => Promise<void>;

  beforeAll(async () => {
    schema = uniqueName('entity');
    const Row = outboxMessageEntity({ schema, synchronize: true });
    ({ dataSource, close } = await testDataSource({ schema, entities: [Row] }));
    await postgres({ schema }).migrate(typeormExecutor(dataSource));
  });
  afterAll(() => close?.());

  it('describes the table exactly: TypeORM’s schema builder finds nothing to change', async () => {
    const pending = await dataSource.driver.createSchemaBuilder().log();
    expect(pending.upQueries.map((q) => q.query)).toEqual([]);
  });

  it('reads what addMessage wrote', async () => {
    const Row = dataSource.entityMetadatas[0]!.target as ReturnType<typeof outboxMessageEntity>;
    await addMessage(
      dataSource.manager,
      { topic: 'read-me', key: 'k', payload: { a: 1 }, headers: { h: 'v' } },
      {
        schema,
      },
    );
    const rows = await dataSource.getRepository(Row).findBy({ topic: 'read-me' });
    expect(rows).toHaveLength(1);
    const [row] = rows;
    expect(row).toMatchObject({
      topic: 'read-me',
      key: 'k',
      status: 'pending',
      attempts: 0,
      headers: { h: 'v' },
    });
    expect(typeof row!.id).toBe('string');
    expect(JSON.parse(Buffer.from(row!.payload).toString('utf8'))).toEqual({ a: 1 });
    expect(row!.createdAt).toBeInstanceOf(Date);
    expect(row!.sentAt).toBeNull();
  });

  it('rejects bad names', () => {
    expect(() => outboxMessageEntity({ table: '1abc' })).toThrow(
      expect.objectContaining({ code: 'INVALID_IDENTIFIER' }),
    );
  });
});
