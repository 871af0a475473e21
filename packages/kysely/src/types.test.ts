import {
  type Executor,
  isOutboxError,
  type MessageStore,
  mysql,
  type NewMessage,
  postgres,
  type TransactionalExecutor,
} from '@troutbox/core';
import {
  type ControlledTransaction,
  type Generated,
  Kysely,
  PostgresDialect,
  type Selectable,
  type Transaction,
} from 'kysely';
import type { Migration, MigrationProvider } from 'kysely/migration';
import pg from 'pg';
import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  addMessage,
  type KyselyOutbox,
  kyselyExecutor,
  kyselyOutbox,
  mergeMigrationProviders,
  outboxMigrations,
} from './index.js';

interface Database {
  orders: { id: Generated<number>; item: string; total: number };
}

// Values whose types matter; only their types are used, never their values.
const kysely = null as unknown as Kysely<Database>;
const trx = null as unknown as Transaction<Database>;
const controlled = null as unknown as ControlledTransaction<Database>;
const savepoint = null as unknown as ControlledTransaction<Database, ['sp']>;
const untyped = null as unknown as Kysely<any>;
const message: NewMessage = { topic: 'orders', payload: { n: 1 } };

/** A Kysely instance that never reaches a database: every call below fails validation first. */
function offline() {
  const pool = async (): Promise<pg.Pool> => {
    throw new Error('the type tests never connect');
  };
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

describe('types of the public API', () => {
  it('addMessage takes a Kysely, a Transaction or a ControlledTransaction of any database', () => {
    expectTypeOf(addMessage).toBeCallableWith(kysely, message);
    expectTypeOf(addMessage).toBeCallableWith(trx, message);
    expectTypeOf(addMessage).toBeCallableWith(controlled, [message, message]);
    expectTypeOf(addMessage).toBeCallableWith(savepoint, message);
    expectTypeOf(addMessage).toBeCallableWith(untyped, message);
    expectTypeOf(addMessage).returns.toEqualTypeOf<Promise<number>>();
    expectTypeOf(kyselyOutbox).toBeCallableWith({ dialect: 'mysql', schema: 'shop', table: 'outbox' });
    expectTypeOf(kyselyOutbox).toBeCallableWith({ dialect: 'postgres', limits: { maxPayloadBytes: 1024 } });
    expectTypeOf(kyselyOutbox).toBeCallableWith({ ordering: 'key', notify: false, partitioned: true });
    expectTypeOf(kyselyOutbox).toBeCallableWith({ dialect: 'mysql', ordering: 'key', lockTimeoutSeconds: 5 });
    expectTypeOf(kyselyOutbox).toBeCallableWith({ dialect: postgres({ ordering: 'key' }), autocommit: true });
    expectTypeOf(outboxMigrations).toBeCallableWith({ dialect: mysql({ database: 'shop' }) });
    const outbox = kyselyOutbox({ schema: 'app' });
    expectTypeOf(outbox).toEqualTypeOf<KyselyOutbox>();
    expectTypeOf(outbox.addMessage).toBeCallableWith(trx, message);
    expectTypeOf(outbox.addMessage).toBeCallableWith(controlled, message);
    expectTypeOf(() => outbox.store(kysely)).returns.toExtend<MessageStore>();
  });

  it('a row Kysely selected is a valid payload', () => {
    const row = null as unknown as Selectable<Database['orders']>;
    expectTypeOf(addMessage).toBeCallableWith(trx, {
      topic: 'orders',
      key: 'order-1',
      payload: { type: 'OrderPlaced', order: row },
      headers: { traceparent: '00-abc-def-01' },
      availableAt: new Date(),
    });
    expectTypeOf(addMessage).toBeCallableWith(trx, { topic: 'bytes', payload: new Uint8Array([1]) });
  });

  it('kyselyExecutor: transactional on a Kysely, bound on a transaction', () => {
    expectTypeOf(() => kyselyExecutor(kysely)).returns.toEqualTypeOf<TransactionalExecutor>();
    expectTypeOf(() => kyselyExecutor(untyped)).returns.toEqualTypeOf<TransactionalExecutor>();
    expectTypeOf(() => kyselyExecutor(trx)).returns.toEqualTypeOf<Executor>();
    expectTypeOf(() => kyselyExecutor(controlled)).returns.toEqualTypeOf<Executor>();
  });

  it('the migration provider is what Kysely’s Migrator takes', () => {
    expectTypeOf(outboxMigrations()).toExtend<MigrationProvider>();
    expectTypeOf(kyselyOutbox().migrations()).toExtend<MigrationProvider>();
    expectTypeOf(mergeMigrationProviders({ '': outboxMigrations() })).toExtend<MigrationProvider>();
    const app = null as unknown as MigrationProvider;
    expectTypeOf(mergeMigrationProviders).toBeCallableWith({ '': app, 'troutbox/': outboxMigrations() });
    expectTypeOf<
      Awaited<ReturnType<ReturnType<typeof outboxMigrations>['getMigrations']>>[string]
    >().toExtend<Required<Migration>>();
  });

  it('wrong inputs do not typecheck, and fail at run time with a typed error', async () => {
    const db = offline();
    const rejectsWith = async (code: string, run: () => Promise<unknown>) => {
      const error = await run().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isOutboxError(error), String(error)).toBe(true);
      expect((error as { code: string }).code).toBe(code);
    };

    // @ts-expect-error the transaction builder, not the transaction it opens
    await rejectsWith('INVALID_OPTION', () => addMessage(db.transaction(), message));
    // @ts-expect-error the controlled-transaction builder: `await db.startTransaction().execute()` was meant
    await rejectsWith('INVALID_OPTION', () => addMessage(db.startTransaction(), message));
    const pool = new pg.Pool();
    // @ts-expect-error a node-postgres pool is not a Kysely handle
    await rejectsWith('INVALID_OPTION', () => addMessage(pool, message));
    await pool.end();
    // @ts-expect-error a message needs a topic
    await rejectsWith('INVALID_MESSAGE', () => addMessage(db, { payload: 1 }));
    // @ts-expect-error a payload is JSON or bytes, not a function
    await rejectsWith('UNSERIALIZABLE_PAYLOAD', () => addMessage(db, { topic: 't', payload: () => 1 }));
    // @ts-expect-error header values are strings
    await rejectsWith('INVALID_MESSAGE', () => addMessage(db, { topic: 't', payload: 1, headers: { n: 1 } }));
    // @ts-expect-error the key is a string
    await rejectsWith('INVALID_MESSAGE', () => addMessage(db, { topic: 't', key: 5, payload: 1 }));
    // @ts-expect-error no such dialect
    expect(() => kyselyOutbox({ dialect: 'oracle' })).toThrow(/dialect must be one of/);
    // @ts-expect-error a typo in an option name
    expect(() => kyselyOutbox({ tabel: 'x' })).toThrow(/unknown option "tabel"/);
    // @ts-expect-error notify is PostgreSQL's
    expect(() => kyselyOutbox({ dialect: 'mysql', notify: false })).toThrow(
      /notify is an option of the postgres/,
    );
    // @ts-expect-error a core dialect carries its own table
    expect(() => kyselyOutbox({ dialect: postgres(), table: 'x' })).toThrow(/table belongs to the dialect/);
    // @ts-expect-error onAdd is kyselyOutbox's, not the migrations'
    expect(() => outboxMigrations({ onAdd: () => {} })).toThrow(/outboxMigrations: unknown option "onAdd"/);
    // @ts-expect-error a migration provider has getMigrations()
    expect(() => mergeMigrationProviders({ app: { migrations: {} } })).toThrow(/not a migration provider/);
    // @ts-expect-error kyselyExecutor takes a Kysely handle
    expect(() => kyselyExecutor(pool)).toThrow(/needs a Kysely instance/);
    await db.destroy();
  });
});
