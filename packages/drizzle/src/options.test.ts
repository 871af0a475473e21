// Rules: an option the package does not know, or of the wrong kind, is an INVALID_OPTION error
// at the call that takes it (before any SQL), not silently ignored; the table factories take
// their own drizzle schema objects and nothing else.
import { createOutbox, isOutboxError } from '@troutbox/core';
import { mysqlSchema, mysqlTable } from 'drizzle-orm/mysql-core';
import { pgSchema, pgTable } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addMessage,
  drizzleExecutor,
  drizzleMigrations,
  mysqlDrizzleMigrations,
  mysqlOutboxTable,
  outboxTable,
} from './index.js';
import { databases, type TestDatabase } from './test/databases.js';

function invalidOption(fn: () => unknown): void {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(isOutboxError(error, 'INVALID_OPTION'), String(error)).toBe(true);
}

async function rejectsInvalidOption(promise: Promise<unknown>): Promise<void> {
  const error = await promise.then(
    () => 'accepted',
    (e: unknown) => e,
  );
  expect(isOutboxError(error, 'INVALID_OPTION'), String(error)).toBe(true);
}

describe('the table and migration factories', () => {
  it("unknown option names passed to the package's factories are INVALID_OPTION", () => {
    invalidOption(() => outboxTable({ tabel: 'x' } as never));
    invalidOption(() => outboxTable({ database: 'app' } as never));
    invalidOption(() => mysqlOutboxTable({ schema: 'app' } as never));
    invalidOption(() => drizzleMigrations({ scheme: 'app' } as never));
    invalidOption(() => mysqlDrizzleMigrations({ schema: 'app' } as never));
    invalidOption(() => outboxTable('outbox' as never));
    // The known ones still work.
    expect(outboxTable({ schema: 'app', table: 'outbox' })).toBeDefined();
    expect(mysqlOutboxTable({ database: 'app', table: 'outbox' })).toBeDefined();
  });

  it("a non-pgSchema object passed to the table's schema option is INVALID_OPTION (and a non-mysqlSchema as database)", () => {
    for (const notPgSchema of [mysqlSchema('app'), { schemaName: 'app' }, pgTable('app', {}), ['app'], 42]) {
      invalidOption(() => outboxTable({ schema: notPgSchema as never }));
      invalidOption(() => drizzleMigrations({ schema: notPgSchema as never }));
    }
    for (const notMysqlSchema of [pgSchema('app'), { schemaName: 'app' }, mysqlTable('app', {})]) {
      invalidOption(() => mysqlOutboxTable({ database: notMysqlSchema as never }));
      invalidOption(() => mysqlDrizzleMigrations({ database: notMysqlSchema as never }));
    }
    expect(outboxTable({ schema: pgSchema('app') })).toBeDefined();
    expect(mysqlOutboxTable({ database: mysqlSchema('app') })).toBeDefined();
  });
});

describe.each(databases)('addMessage and drizzleExecutor options (%s)', (_name, open) => {
  let t: TestDatabase;
  let ns: string;

  beforeAll(async () => {
    t = await open();
    ns = await t.namespace('drz_opt');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('unknown option names passed to addMessage and drizzleExecutor are INVALID_OPTION, before any SQL', async () => {
    const message = { topic: 'opt', payload: 1 };
    // The other database's namespace option is unknown here.
    const foreign = t.kind === 'postgres' ? { database: ns } : { schema: ns };
    const before = t.statements.length;
    await t.db.transaction(async (tx: any) => {
      const inside = t.statements.length;
      for (const options of [
        { ...t.options(ns), tabel: 'x' },
        foreign,
        { ...t.options(ns), autocommit: 'yes' },
        { ...t.options(ns), outbox: {} },
        // The opt-in of a given outbox is its own (createOutbox({ autocommit })).
        { outbox: createOutbox({ dialect: t.dialect(ns) }), autocommit: true },
      ]) {
        await rejectsInvalidOption(addMessage(tx, message, options as never));
      }
      await rejectsInvalidOption(addMessage(tx, message, 'outbox' as never));
      expect(t.statements.length).toBe(inside);
    });
    expect(t.statements.length).toBe(before + 2); // drizzle's BEGIN and COMMIT
    invalidOption(() => drizzleExecutor(t.db, { onConnectionEror: () => {} } as never));
    invalidOption(() => drizzleExecutor(t.db, { onConnectionError: 'log' } as never));
    invalidOption(() => drizzleExecutor(t.db, null as never));
  });
});
