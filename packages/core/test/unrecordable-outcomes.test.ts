// Rule: a batch whose outcomes the database refuses never loops uncounted. The relay records a
// fallback outcome in a new transaction (a sent message stays sent; any other counts its attempt
// with a printable error and the default backoff), for the messages it can lock again unchanged
// only, so it never overwrites what another relay has claimed or recorded since. When even that
// fails, each failure is an error event and the loop backs off with a growing pause.
//
// The refusal is the database's own: a CHECK constraint on the table that the sender's error
// text (a fish) or an attempt count breaks, as a stricter schema or a column's limits would.
import { afterEach, describe, expect, it } from 'vitest';
import {
  createRelay,
  isOutboxError,
  type MessageStore,
  type OutboxMessage,
  payloadJson,
  type SendResult,
} from '../src/index.js';
import { isConnectionLoss } from '../src/relay.js';
import { waitFor } from '../src/testing/index.js';
import { createTestOutbox, databases, gate, scriptedSender, type TestOutbox } from './helpers.js';

let db: TestOutbox | undefined;
afterEach(async () => {
  await db?.close();
  db = undefined;
});

/** `store`, with some of its methods replaced (the rest run on the store itself). */
function withHooks(store: MessageStore, hooks: Partial<MessageStore>): MessageStore {
  return new Proxy(store, {
    get(target, prop) {
      if (prop in hooks) return hooks[prop as keyof MessageStore];
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

const printable = /^[\x20-\x7E]*$/;

describe.each(databases)('outcomes the database refuses, on $label', (database) => {
  const refuseFish = async (t: TestOutbox) =>
    t.sql(
      database.name === 'postgres'
        ? "ALTER TABLE $table ADD CONSTRAINT no_fish CHECK (last_error IS NULL OR position('🐟' in last_error) = 0)"
        : "ALTER TABLE $table ADD CONSTRAINT no_fish CHECK (last_error IS NULL OR LOCATE('🐟', last_error) = 0)",
    );

  it('are replaced by a fallback in a new transaction: sent stays sent, the others count their attempt with a printable error and the default backoff', async () => {
    db = await createTestOutbox(database, { prefix: 'fallback' });
    await refuseFish(db);
    const said: SendResult[] = [
      { status: 'sent' },
      { status: 'retry', error: new Error('🐟 broker said no') },
      { status: 'dead', error: new Error('🐟 unroutable') },
      { status: 'retry', error: 'plain', retryAfterMs: 5 },
    ];
    await db.add(said.map((_, i) => ({ topic: 't', payload: i })));
    const relay = createRelay({
      store: db.store,
      sender: scriptedSender((m) => said[payloadJson<number>(m)]!),
      backoff: { initialDelayMs: 60_000, jitter: 0 },
    });
    const errors: { error: unknown; operation: string }[] = [];
    relay.on('error', (e) => errors.push(e));
    const retries: number[] = [];
    relay.on('retry', ({ delayMs }) => retries.push(delayMs));
    const before = await db.now();
    expect(await relay.runOnce()).toEqual({ batches: 1, sent: 1, retried: 2, dead: 1 });
    expect(errors.map((e) => e.operation)).toEqual(['complete']);
    expect(String(errors[0]!.error)).toMatch(/no_fish/);
    // The default backoff, not the sender's 5 ms.
    expect(retries).toEqual([60_000, 60_000]);

    const rows = new Map(
      (await db.store.list({ status: 'pending' }))
        .concat(await db.store.list({ status: 'sent' }), await db.store.deadLetters())
        .map((m) => [payloadJson<number>({ payload: m.payload } as OutboxMessage), m]),
    );
    expect(rows.get(0)).toMatchObject({ status: 'sent', attempts: 0 });
    expect(rows.get(1)).toMatchObject({ status: 'pending', attempts: 1 });
    expect(rows.get(2)).toMatchObject({ status: 'dead', attempts: 1 });
    expect(rows.get(3)).toMatchObject({ status: 'pending', attempts: 1 });
    for (const i of [1, 2, 3]) {
      const lastError = rows.get(i)!.lastError!;
      expect(lastError).toMatch(printable);
      expect(lastError).toMatch(/^outcome not recorded \(.*no_fish.*\); sender: /);
    }
    expect(rows.get(1)!.lastError).toMatch(/sender: \?+ broker said no$/);
    expect(rows.get(3)!.lastError).toMatch(/sender: plain$/);
    for (const i of [1, 3])
      expect(rows.get(i)!.availableAt.getTime()).toBeGreaterThanOrEqual(before + 60_000);
    // Nothing is due: the batch does not come round again.
    expect(await relay.runOnce()).toMatchObject({ batches: 0 });
  });

  // What another relay did between the rollback of the refused batch and its fallback.
  const meanwhile = {
    'recorded it sent': async (other: MessageStore) => {
      const relay = createRelay({ store: other, sender: scriptedSender() });
      expect(await relay.runOnce()).toMatchObject({ sent: 3 });
      return async () => {};
    },
    'recorded a retry of its own': async (other: MessageStore) => {
      const relay = createRelay({
        store: other,
        sender: scriptedSender(() => ({ status: 'retry', error: 'other relay', retryAfterMs: 60_000 })),
      });
      expect(await relay.runOnce()).toMatchObject({ retried: 3 });
      return async () => {};
    },
    'still holds it claimed': async (other: MessageStore) => {
      const inside = gate();
      const release = gate();
      const relay = createRelay({
        store: other,
        sender: scriptedSender(async () => {
          inside.open();
          await release.promise;
          return { status: 'sent' };
        }),
      });
      const running = relay.runOnce();
      await inside.promise;
      return async () => {
        release.open();
        expect(await running).toMatchObject({ sent: 3 });
      };
    },
  };

  it.each(Object.keys(meanwhile) as (keyof typeof meanwhile)[])(
    'the fallback never overwrites a message that another relay, since the rollback, %s',
    async (what) => {
      db = await createTestOutbox(database, { prefix: 'fallbackrace' });
      await refuseFish(db);
      await db.add([0, 1, 2].map((i) => ({ topic: 't', payload: i })));
      const other = db.newStore().store;
      let finish: (() => Promise<void>) | undefined;
      const store = withHooks(db.store, {
        reclaim: async (tx, messages) => {
          finish = await meanwhile[what](other);
          return db!.store.reclaim(tx, messages);
        },
      });
      const relay = createRelay({
        store,
        sender: scriptedSender(() => ({ status: 'retry', error: new Error('🐟') })),
      });
      const errors: string[] = [];
      relay.on('error', ({ operation }) => errors.push(operation));
      // The refused batch is reported, and its fallback found nothing of its own to record.
      expect(await relay.runOnce()).toEqual({ batches: 1, sent: 0, retried: 0, dead: 0 });
      expect(errors).toEqual(['complete']);
      await finish!();
      const all = [
        ...(await db.store.list({ status: 'pending' })),
        ...(await db.store.list({ status: 'sent' })),
      ];
      expect(all).toHaveLength(3);
      for (const m of all) {
        if (what === 'recorded a retry of its own') {
          expect(m).toMatchObject({ status: 'pending', attempts: 1, lastError: 'other relay' });
        } else expect(m).toMatchObject({ status: 'sent', attempts: 0, lastError: null });
      }
    },
  );

  it('when the fallback is refused too, each failure is an error event and the loop pauses longer each time', async () => {
    db = await createTestOutbox(database, { prefix: 'fallbackfail' });
    // No attempt can be counted at all.
    await db.sql('ALTER TABLE $table ADD CONSTRAINT no_attempts CHECK (attempts = 0)');
    await db.add({ topic: 't', payload: 1 });
    const claimedAt: number[] = [];
    const store = withHooks(db.store, {
      claim: async (tx, limit) => {
        const batch = await db!.store.claim(tx, limit);
        if (batch.length > 0) claimedAt.push(performance.now());
        return batch;
      },
    });
    const errorDelayMs = 20;
    const relay = createRelay({
      store,
      sender: scriptedSender(() => ({ status: 'retry', error: 'no' })),
      errorDelayMs,
      pollIntervalMs: 5,
      listen: false,
    });
    const errors: { error: unknown; operation: string }[] = [];
    relay.on('error', (e) => errors.push(e));
    await relay.start();
    try {
      await waitFor(() => claimedAt.length >= 6, { message: 'six claims of the unrecordable batch' });
    } finally {
      await relay.stop();
    }
    const batchErrors = errors.filter((e) => e.operation === 'batch');
    expect(batchErrors.length).toBeGreaterThanOrEqual(5);
    for (const { error } of batchErrors) {
      expect(isOutboxError(error, 'STORE_FAILED'), String(error)).toBe(true);
      expect(String(error)).toMatch(/could not be recorded.*nor a fallback outcome/);
    }
    expect(errors.filter((e) => e.operation === 'complete').length).toBeGreaterThanOrEqual(5);
    // Pauses of 20, 40, 80, 160 ms… after the batches, not a flat errorDelayMs.
    const gaps = claimedAt.slice(1).map((t, i) => t - claimedAt[i]!);
    gaps.forEach((gap, i) => {
      expect(gap).toBeGreaterThanOrEqual(errorDelayMs * 2 ** i - 2);
    });
    const [message] = await db.store.list({ status: 'pending' });
    expect(message!.attempts).toBe(0);
  });
});

describe('isConnectionLoss: a lost connection is not taken for a refusal (no fallback, no attempt counted)', () => {
  it('knows the connection errors of node-postgres, mysql2, Node and Prisma, through wrapping causes', () => {
    const lost = [
      Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }),
      Object.assign(new Error('connection failure'), { code: '08006' }),
      new Error('Connection terminated unexpectedly'),
      new Error('Client has encountered a connection error and is not queryable'),
      Object.assign(new Error("Can't add new command when connection is in closed state"), { fatal: true }),
      Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
      Object.assign(new Error('Connection lost: The server closed the connection.'), {
        code: 'PROTOCOL_CONNECTION_LOST',
      }),
      Object.assign(new Error('Server has gone away'), { errno: 2006 }),
      Object.assign(new Error("Can't reach database server"), { code: 'P1001' }),
      new Error('query failed', {
        cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
      }),
    ];
    for (const error of lost) expect(isConnectionLoss(error), String(error)).toBe(true);
    const refused = [
      Object.assign(new Error('new row violates check constraint "no_fish"'), { code: '23514' }),
      Object.assign(new Error('timestamp out of range'), { code: '22008' }),
      Object.assign(new Error('Incorrect datetime value'), { errno: 1292, sqlState: '22007' }),
      Object.assign(new Error('Deadlock found'), { errno: 1213 }),
      'a string',
      null,
      undefined,
    ];
    for (const error of refused) expect(isConnectionLoss(error), String(error)).toBe(false);
  });
});
