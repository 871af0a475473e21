// The rules of @troutbox/typeorm's public API (issue 13), on PostgreSQL and MariaDB:
// - the package's factories reject option names they do not read.
import { isOutboxError, type NewMessage } from '@troutbox/core';
import { uniqueName } from '@troutbox/core/testing';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMessage } from './add-message.js';
import { outboxMessageEntity } from './entity.js';
import { typeormExecutor } from './executor.js';
import { createOutboxMigrations } from './migrations.js';
import { dialectFor, type TypeormOutboxOptions } from './options.js';
import { OutboxSubscriber, outboxSubscriber } from './subscriber.js';
import { databases, outboxDialect, testDataSource } from './test-support.js';

const TABLE = 'outbox';
const message: NewMessage = { topic: 'guarded', payload: { n: 1 } };

async function refused(promise: Promise<unknown>, code: string): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isOutboxError(error, code as never), String(error)).toBe(true);
}

describe.each(databases)('transaction rules on $name', (db) => {
  const ns = uniqueName('typeorm_tx');
  const dialect = outboxDialect(db, ns, TABLE);
  const where: TypeormOutboxOptions = { ...db.where(ns), table: TABLE };
  let dataSource: DataSource;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ dataSource, close } = await testDataSource(db, { ns, subscribers: [outboxSubscriber(where)] }));
    await dialect.migrate(typeormExecutor(dataSource));
  });
  afterAll(() => close?.());
  const count = async () =>
    Number((await dataSource.query(`SELECT count(*) AS n FROM ${dialect.tableName}`))[0].n);

  it('unknown option names are INVALID_OPTION in every factory of the package', async () => {
    const invalid = (create: () => unknown) =>
      expect(create).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
    invalid(() => outboxSubscriber({ ...where, autocomit: true } as never));
    invalid(() => outboxSubscriber({ ...where, ordering: 'key' } as never));
    invalid(() => new OutboxSubscriber({ ...where, onCommmit: () => {} } as never));
    // Options of the writers are not options of the migrations or the entity: they would be ignored.
    invalid(() => createOutboxMigrations({ type: db.type, ...where, limits: {} } as never));
    invalid(() => outboxMessageEntity({ type: db.type, ...where, dialect } as never));
    invalid(() => outboxMessageEntity({ type: db.type, ...where, limits: {} } as never));
    invalid(() => dialectFor(db.type, { ...where, tabel: 'x' } as never));
    await dataSource.transaction(async (manager) => {
      await refused(addMessage(manager, message, { ...where, tabel: 'x' } as never), 'INVALID_OPTION');
      await refused(
        addMessage(manager, message, { ...where, onCommit: () => {} } as never),
        'INVALID_OPTION',
      );
    });
    expect(await count()).toBe(0);
  });
});
