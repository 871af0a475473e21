// Rule: a message is written only through the handle of an open Kysely transaction. A plain
// `Kysely` instance is refused with NOT_IN_TRANSACTION before any SQL unless the outbox opted into
// autocommit; a transaction that has committed or rolled back is always refused, before Kysely's
// own (untyped) check and before any SQL. Every test runs on PostgreSQL and on MariaDB.
import { type Executor, isOutboxError, type NewMessage } from '@troutbox/core';
import type { Kysely, Transaction } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { databases, type TestDatabase } from './databases.test-support.js';
import { addMessage, type KyselyOutbox, kyselyExecutor, kyselyOutbox } from './index.js';

const message: NewMessage = { topic: 'guard', payload: { n: 1 } };

/** The error `promise` rejects with (fails the test if it resolves). */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => expect.unreachable(`resolved with ${String(value)}`),
    (error: unknown) => error,
  );
}

async function refused(promise: Promise<unknown>): Promise<Error> {
  const error = await rejection(promise);
  expect(isOutboxError(error, 'NOT_IN_TRANSACTION'), String(error)).toBe(true);
  return error as Error;
}

describe.each(databases)('the transaction rule on $label', (database) => {
  let t: TestDatabase;
  let root: Kysely<any>;
  let outbox: KyselyOutbox;
  let autocommit: KyselyOutbox;
  /** SQL of every statement sent since the test began. */
  const sent: string[] = [];

  beforeAll(async () => {
    t = await database.open('kyguard', { connections: 4, onQuery: (sql) => sent.push(sql) });
    root = t.db;
    outbox = kyselyOutbox({ dialect: database.dialect, schema: t.schema });
    autocommit = kyselyOutbox({ dialect: database.dialect, schema: t.schema, autocommit: true });
    await outbox.store(root).migrate();
  });
  afterAll(async () => {
    await t?.close();
  });
  beforeEach(() => {
    sent.length = 0;
  });

  const stored = async (topic: string) =>
    (await outbox.store(root).list({ status: 'pending', topic, limit: 100_000 })).length;

  it('addMessage on a plain Kysely instance is refused with NOT_IN_TRANSACTION before any SQL', async () => {
    const error = await refused(outbox.addMessage(root, { topic: 'plain', payload: 1 }));
    expect(error.message).toMatch(/addMessage.*autocommit: true/);
    // The default outbox, a Kysely with a schema plugin, and the connection of db.connection().
    await refused(addMessage(root, { topic: 'plain', payload: 1 }));
    await refused(outbox.addMessage(root.withSchema(t.schema), { topic: 'plain', payload: 1 }));
    await root.connection().execute(async (conn) => {
      await refused(outbox.addMessage(conn, [message, { topic: 'plain', payload: 2 }]));
    });
    expect(sent).toEqual([]);
    expect(await stored('plain')).toBe(0);
  });

  it('kyselyOutbox({ autocommit: true }) opts into writes on a plain Kysely instance', async () => {
    expect(await autocommit.addMessage(root, { topic: 'opted-in', payload: 1 })).toBe(1);
    // The statement log sees writes (so its emptiness elsewhere means no SQL was sent).
    expect(sent.filter((sql) => /^insert into/i.test(sql.trim()))).toHaveLength(1);
    expect(await stored('opted-in')).toBe(1);
    // The store of each outbox carries its choice to store.add.
    const opted = autocommit.store(root);
    expect(await opted.add(opted.db, { topic: 'opted-in', payload: 2 })).toBe(1);
    const strict = outbox.store(root);
    await refused(strict.add(strict.db, { topic: 'opted-in', payload: 3 }));
    expect(await stored('opted-in')).toBe(2);
  });

  it('kyselyExecutor reports where each handle stands: autocommit, transaction, ended', async () => {
    const state = (db: Parameters<typeof kyselyExecutor>[0]) => kyselyExecutor(db).transactionState?.();
    expect(state(root)).toBe('autocommit');
    expect(state(root.withSchema(t.schema))).toBe('autocommit');
    expect(await root.connection().execute(async (conn) => state(conn))).toBe('autocommit');

    let leaked: Transaction<any> | undefined;
    await root.transaction().execute(async (trx) => {
      leaked = trx;
      expect(state(trx)).toBe('transaction');
      expect(state(trx.withSchema(t.schema))).toBe('transaction');
    });
    expect(state(leaked!)).toBe('ended');

    const controlled = await root.startTransaction().execute();
    expect(state(controlled)).toBe('transaction');
    const savepoint = await controlled.savepoint('sp').execute();
    expect(state(savepoint)).toBe('transaction');
    await controlled.commit().execute();
    expect(state(controlled)).toBe('ended');
    expect(state(savepoint)).toBe('ended');
    const rolledBack = await root.startTransaction().execute();
    await rolledBack.rollback().execute();
    expect(state(rolledBack)).toBe('ended');

    // The handles the executor's own transactions give core (the relay's, the store's).
    let inner: Executor | undefined;
    await kyselyExecutor(root).transaction(async (tx) => {
      inner = tx;
      expect(tx.transactionState?.()).toBe('transaction');
    });
    expect(inner!.transactionState?.()).toBe('ended');
  });

  it('a Transaction used after its transaction().execute callback ended is refused with NOT_IN_TRANSACTION before any SQL', async () => {
    let committed: Transaction<any> | undefined;
    await root.transaction().execute(async (trx) => {
      committed = trx;
      await outbox.addMessage(trx, { topic: 'late.committed', payload: 1 });
    });
    let rolledBack: Transaction<any> | undefined;
    await rejection(
      root.transaction().execute(async (trx) => {
        rolledBack = trx;
        throw new Error('business failure');
      }),
    );
    sent.length = 0;
    const error = await refused(outbox.addMessage(committed!, { topic: 'late.committed', payload: 2 }));
    expect(error.message).toMatch(/already committed or rolled back/);
    // Even with autocommit allowed: the caller meant a transaction that is gone.
    await refused(autocommit.addMessage(committed!, { topic: 'late.committed', payload: 3 }));
    await refused(outbox.addMessage(rolledBack!, { topic: 'late.rolled-back', payload: 1 }));
    expect(sent).toEqual([]);
    expect(await stored('late.committed')).toBe(1);
    expect(await stored('late.rolled-back')).toBe(0);
  });

  it('a ControlledTransaction or its savepoint used after commit or rollback is refused with NOT_IN_TRANSACTION before any SQL', async () => {
    const committed = await root.startTransaction().execute();
    const savepoint = await committed.savepoint('before').execute();
    await committed.commit().execute();
    const rolledBack = await root.startTransaction().execute();
    await outbox.addMessage(rolledBack, { topic: 'controlled.late', payload: 0 });
    await rolledBack.rollback().execute();
    sent.length = 0;
    await refused(outbox.addMessage(committed, { topic: 'controlled.late', payload: 1 }));
    await refused(outbox.addMessage(savepoint, { topic: 'controlled.late', payload: 2 }));
    await refused(autocommit.addMessage(rolledBack, { topic: 'controlled.late', payload: 3 }));
    expect(sent).toEqual([]);
    expect(await stored('controlled.late')).toBe(0);
  });

  it('a handle from the executor’s own transaction(fn) is refused once fn is done', async () => {
    const store = outbox.store(root);
    let leaked: Executor | undefined;
    await store.db.transaction(async (tx) => {
      leaked = tx;
      await store.add(tx, { topic: 'store.inside', payload: 1 });
    });
    sent.length = 0;
    await refused(store.add(leaked!, { topic: 'store.late', payload: 1 }));
    expect(sent).toEqual([]);
    expect(await stored('store.inside')).toBe(1);
    expect(await stored('store.late')).toBe(0);
  });
});
