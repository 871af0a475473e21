// Rules: a message is written in a transaction or not at all. `$outbox` on the root client is
// refused before any SQL unless the extension opted into autocommit; `tx.$outbox` writes in the
// caller's interactive transaction, and is refused once that transaction has ended; in a batch
// `prisma.$transaction([…])`, `prisma.$outbox(…)` is part of the batch; a write larger than one
// INSERT inside the caller's transaction is undone with it. The executors tell core where they stand.
import {
  type Executor,
  isOutboxError,
  mysql,
  type NewMessage,
  type OutboxErrorCode,
  postgres,
} from '@troutbox/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outbox, prismaExecutor, prismaRaw, prismaStore } from '../src/index.js';
import { databases, openTestDatabase, REFUSED_TOPIC, type TestDatabase } from './databases.js';

class Rollback extends Error {}

async function refused(promise: PromiseLike<unknown>, code: OutboxErrorCode = 'NOT_IN_TRANSACTION') {
  const error = await Promise.resolve(promise).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isOutboxError(error, code), String(error)).toBe(true);
  return error;
}

/** More messages than one INSERT statement takes on either database (10,000 on PostgreSQL). */
const MANY = 10_001;
const many = (topic: string, count = MANY): NewMessage[] =>
  Array.from({ length: count }, (_, i) => ({ topic, payload: i }));

describe.each(databases)('$label', (database) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await openTestDatabase(database);
    await db.database.refuseTopic(db.peek, db.isolated);
  });
  afterAll(async () => {
    await db?.close();
  });

  /** Run `fn` and return the statements Prisma sent meanwhile. */
  async function statementsDuring(fn: () => Promise<unknown>): Promise<string[]> {
    const before = db.statements.length;
    await fn();
    return db.statements.slice(before);
  }

  const orders = (customer: string) => db.prisma.order.count({ where: { customer } });

  describe('a write through the root client is refused unless the extension opted into autocommit', () => {
    it('prisma.$outbox on the root client is refused with NOT_IN_TRANSACTION before any SQL', async () => {
      const sent = await statementsDuring(() =>
        refused(db.prisma.$outbox({ topic: 'root.refused', payload: 1 })),
      );
      expect(sent).toEqual([]);
      expect(await db.outboxCount('root.refused')).toBe(0);
      // (The recorder does see a write that runs.)
      expect(
        await statementsDuring(() => db.autocommit.$outbox({ topic: 'root.opted', payload: 1 })),
      ).not.toEqual([]);
    });

    it('prisma.$outbox on the outer client inside $transaction(async (tx) => …) is refused before any SQL, and tx.$outbox writes in the transaction', async () => {
      const rolledBack = await db.prisma
        .$transaction(async (tx) => {
          await tx.order.create({ data: { customer: 'outer-slip', total: 1 } });
          const sent = await statementsDuring(() =>
            refused(db.prisma.$outbox({ topic: 'outer.slip', payload: 1 })),
          );
          expect(sent).toEqual([]);
          await tx.$outbox({ topic: 'outer.tx', payload: 1 });
          throw new Rollback('payment declined');
        })
        .catch((e: unknown) => e);
      expect(rolledBack).toBeInstanceOf(Rollback);
      // The slip would have left a message for an order that never existed.
      expect(await db.outboxCount('outer.slip')).toBe(0);
      expect(await db.outboxCount('outer.tx')).toBe(0);
      expect(await orders('outer-slip')).toBe(0);

      await db.prisma.$transaction(async (tx) => {
        await tx.order.create({ data: { customer: 'outer-commit', total: 1 } });
        expect(await tx.$outbox({ topic: 'outer.tx', payload: 2 })).toBe(1);
      });
      expect(await db.outboxCount('outer.tx')).toBe(1);
    });

    it('with outbox({ autocommit: true }), prisma.$outbox writes on its own, even inside a transaction that rolls back', async () => {
      const rolledBack = await db.autocommit
        .$transaction(async () => {
          expect(await db.autocommit.$outbox({ topic: 'opted.in', payload: 1 })).toBe(1);
          throw new Rollback('after writing');
        })
        .catch((e: unknown) => e);
      expect(rolledBack).toBeInstanceOf(Rollback);
      expect(await db.outboxCount('opted.in')).toBe(1);
    });
  });

  describe('the executors report their transaction state', () => {
    it('root client → autocommit, tx → transaction, a tx whose transaction finished → ended', async () => {
      expect(prismaRaw(db.prisma).transactionState?.()).toBe('autocommit');
      expect(prismaRaw(db.base).transactionState?.()).toBe('autocommit');
      expect(prismaExecutor(db.prisma).transactionState?.()).toBe('autocommit');

      let committed: Executor | undefined;
      let nested: Executor | undefined;
      await db.prisma.$transaction(async (tx) => {
        committed = prismaRaw(tx);
        expect(committed.transactionState?.()).toBe('transaction');
        await tx.$transaction(async (inner) => {
          nested = prismaRaw(inner);
          expect(nested.transactionState?.()).toBe('transaction');
        });
        // The nested transaction is over while the outer one is still open.
        expect(nested?.transactionState?.()).toBe('ended');
        expect(committed.transactionState?.()).toBe('transaction');
      });
      expect(committed?.transactionState?.()).toBe('ended');

      let rolledBack: Executor | undefined;
      await db.prisma
        .$transaction(async (tx) => {
          rolledBack = prismaRaw(tx);
          throw new Rollback('rolled back');
        })
        .catch(() => undefined);
      expect(rolledBack?.transactionState?.()).toBe('ended');
    });

    it('the handles prismaExecutor(…).transaction(fn) gives are transaction, then ended', async () => {
      const exec = prismaExecutor(db.prisma);
      let handle: Executor | undefined;
      await exec.transaction(async (tx) => {
        handle = tx;
        expect(tx.transactionState?.()).toBe('transaction');
      });
      expect(handle?.transactionState?.()).toBe('ended');
      const failed = await exec
        .transaction(async (tx) => {
          handle = tx;
          throw new Rollback('rolled back');
        })
        .catch((e: unknown) => e);
      expect(failed).toBeInstanceOf(Rollback);
      expect(handle?.transactionState?.()).toBe('ended');
    });

    it('store.add through the root client is refused before any SQL unless prismaStore({ autocommit: true })', async () => {
      const message = { topic: 'store.root', payload: 1 };
      const store = prismaStore(db.prisma, db.tableOptions);
      const sent = await statementsDuring(() => refused(store.add(prismaRaw(db.prisma), message)));
      expect(sent).toEqual([]);
      await db.prisma.$transaction((tx) => store.add(prismaRaw(tx), message));
      const optedIn = prismaStore(db.prisma, { ...db.tableOptions, autocommit: true });
      expect(await optedIn.add(prismaRaw(db.prisma), message)).toBe(1);
      expect(await db.outboxCount('store.root')).toBe(2);
    });
  });

  describe('a tx used after its transaction ended is refused', () => {
    it('tx.$outbox after commit or rollback is refused with NOT_IN_TRANSACTION before any SQL', async () => {
      let committed: any;
      await db.prisma.$transaction(async (tx) => {
        committed = tx;
      });
      let rolledBack: any;
      await db.prisma
        .$transaction(async (tx) => {
          rolledBack = tx;
          throw new Rollback('rolled back');
        })
        .catch(() => undefined);
      for (const tx of [committed, rolledBack] as (typeof db.prisma)[]) {
        const sent = await statementsDuring(() => refused(tx.$outbox({ topic: 'ended', payload: 1 })));
        expect(sent).toEqual([]);
      }
      expect(await db.outboxCount('ended')).toBe(0);
    });

    it('a nested transaction client, once its transaction is over, is refused while the outer one is open', async () => {
      // Its statements would run in the outer transaction, so Prisma itself would not refuse them.
      await db.prisma.$transaction(async (tx) => {
        let inner: any;
        await tx.$transaction(async (i) => {
          inner = i;
        });
        const sent = await statementsDuring(() =>
          refused((inner as typeof tx).$outbox({ topic: 'ended.nested', payload: 1 })),
        );
        expect(sent).toEqual([]);
      });
      expect(await db.outboxCount('ended.nested')).toBe(0);
    });

    it('store.add through a handle of prismaExecutor(…).transaction after it ended is refused', async () => {
      let handle: Executor | undefined;
      await prismaExecutor(db.prisma).transaction(async (tx) => {
        handle = tx;
      });
      const store = prismaStore(db.prisma, db.tableOptions);
      await refused(store.add(handle!, { topic: 'ended.handle', payload: 1 }));
      expect(await db.outboxCount('ended.handle')).toBe(0);
    });
  });

  describe('prisma.$outbox in a batch $transaction([…]) is part of the batch', () => {
    it('the order and the message commit together, or neither does', async () => {
      const [order, written] = await db.prisma.$transaction([
        db.prisma.order.create({ data: { customer: 'batch-ok', total: 1 } }),
        db.prisma.$outbox({ topic: 'batch.ok', payload: { n: 1 } }),
      ]);
      expect(written).toBe(1);
      expect(await orders('batch-ok')).toBe(1);
      expect(await db.outboxCount('batch.ok')).toBe(1);

      // An element after the message fails (a duplicate primary key): the batch rolls back.
      const failed = await db.prisma
        .$transaction([
          db.prisma.order.create({ data: { customer: 'batch-failed', total: 1 } }),
          db.prisma.$outbox({ topic: 'batch.failed', payload: { n: 2 } }),
          db.prisma.order.create({ data: { id: order.id, customer: 'batch-duplicate', total: 1 } }),
        ])
        .catch((e: unknown) => e);
      expect(failed).toBeInstanceOf(Error);
      expect(await orders('batch-failed')).toBe(0);
      expect(await db.outboxCount('batch.failed')).toBe(0);
    });

    it('a call of more than one INSERT statement (10,001 messages) commits with the batch, or not at all', async () => {
      const [, written] = await db.prisma.$transaction([
        db.prisma.order.create({ data: { customer: 'batch-many', total: 1 } }),
        db.prisma.$outbox(many('batch.many')),
        db.prisma.order.create({ data: { customer: 'batch-many-after', total: 1 } }),
      ]);
      expect(written).toBe(MANY);
      expect(await db.outboxCount('batch.many')).toBe(MANY);
      expect(await orders('batch-many-after')).toBe(1);

      // The last INSERT of the call fails: the earlier ones and the order roll back with it.
      const failed = await db.prisma
        .$transaction([
          db.prisma.order.create({ data: { customer: 'batch-many-refused', total: 1 } }),
          db.prisma.$outbox([...many('batch.many.refused', MANY - 1), { topic: REFUSED_TOPIC, payload: 0 }]),
        ])
        .catch((e: unknown) => e);
      expect(String(failed)).toContain('refused by a test trigger');
      expect(await orders('batch-many-refused')).toBe(0);
      expect(await db.outboxCount('batch.many.refused')).toBe(0);
    });

    it('keyed messages on an ordered table get their key sequence in the batch, and the counters roll back with it', async () => {
      const dialect =
        database.name === 'mysql'
          ? mysql({ database: db.isolated, ordering: 'key' })
          : postgres({ schema: db.isolated, ordering: 'key' });
      const ordered = db.base.$extends(outbox({ dialect }));
      const [, order] = await ordered.$transaction([
        ordered.$outbox([
          { topic: 'batch.ordered', key: 'a', payload: 1 },
          { topic: 'batch.ordered', key: 'b', payload: 2 },
          { topic: 'batch.ordered', key: 'a', payload: 3 },
        ]),
        ordered.order.create({ data: { customer: 'batch-ordered', total: 1 } }),
        ordered.$outbox({ topic: 'batch.ordered', key: 'a', payload: 4 }),
      ]);
      const failed = await ordered
        .$transaction([
          ordered.$outbox({ topic: 'batch.ordered.failed', key: 'a', payload: 5 }),
          ordered.order.create({ data: { id: order.id, customer: 'batch-duplicate', total: 1 } }),
        ])
        .catch((e: unknown) => e);
      expect(failed).toBeInstanceOf(Error);
      await ordered.$transaction([ordered.$outbox({ topic: 'batch.ordered', key: 'a', payload: 6 })]);
      const key = database.name === 'mysql' ? '`key`' : '"key"';
      const rows = await db.peek.query<{ key: string; seq: unknown; payload: Uint8Array }>(
        `SELECT ${key} AS ${key}, seq, payload FROM ${db.outboxTable} WHERE topic = ${database.p(1)} ORDER BY id`,
        ['batch.ordered'],
      );
      expect(rows.map((r) => [r.key, Number(r.seq), JSON.parse(Buffer.from(r.payload).toString())])).toEqual([
        ['a', 1, 1],
        ['b', 1, 2],
        ['a', 2, 3],
        ['a', 3, 4],
        // The failed batch's counter bump rolled back with it: no gap.
        ['a', 4, 6],
      ]);
      expect(await db.outboxCount('batch.ordered.failed')).toBe(0);
    });

    it('an invalid message fails the batch with its OutboxError before any SQL', async () => {
      let error: unknown;
      const sent = await statementsDuring(async () => {
        error = await db.prisma
          .$transaction([
            db.prisma.order.create({ data: { customer: 'batch-invalid', total: 1 } }),
            db.prisma.$outbox({ topic: '', payload: 1 }),
          ])
          .catch((e: unknown) => e);
      });
      expect(isOutboxError(error, 'INVALID_MESSAGE'), String(error)).toBe(true);
      expect(sent).toEqual([]);
      expect(await orders('batch-invalid')).toBe(0);
    });

    it('tx.$outbox cannot be an element of a batch: refused, and the batch is not sent', async () => {
      await db.prisma.$transaction(async (tx) => {
        await refused(
          db.prisma.$transaction([
            db.prisma.order.create({ data: { customer: 'batch-tx', total: 1 } }),
            tx.$outbox({ topic: 'batch.tx', payload: 1 }),
          ]),
          'INVALID_OPTION',
        );
      });
      expect(await orders('batch-tx')).toBe(0);
      expect(await db.outboxCount('batch.tx')).toBe(0);
    });
  });

  describe('one tx.$outbox of more than one INSERT statement is atomic in the caller’s transaction', () => {
    it('10,001 messages whose last INSERT fails leave nothing committed: the caller’s transaction rolls back everything', async () => {
      const failed = await db.prisma
        .$transaction(
          async (tx) => {
            await tx.order.create({ data: { customer: 'atomic-tx', total: 1 } });
            await tx.$outbox([...many('atomic.tx', MANY - 1), { topic: REFUSED_TOPIC, payload: 0 }]);
          },
          { timeout: 60_000 },
        )
        .catch((e: unknown) => e);
      expect(String(failed)).toContain('refused by a test trigger');
      expect(await orders('atomic-tx')).toBe(0);
      expect(await db.outboxCount('atomic.tx')).toBe(0);

      // The statements ran in the caller's transaction, not in one of their own: unseen outside
      // it until the commit, and gone when it rolls back after they all succeeded.
      const rolledBack = await db.prisma
        .$transaction(
          async (tx) => {
            expect(await tx.$outbox(many('atomic.tx.all'))).toBe(MANY);
            expect(await db.outboxCount('atomic.tx.all')).toBe(0);
            throw new Rollback('after writing');
          },
          { timeout: 60_000 },
        )
        .catch((e: unknown) => e);
      expect(rolledBack).toBeInstanceOf(Rollback);
      expect(await db.outboxCount('atomic.tx.all')).toBe(0);
    });
  });
});
