import { createRelay, isOutboxError, mysql, type NewMessage, payloadJson, postgres } from '@troutbox/core';
import { recordingSender, waitFor } from '@troutbox/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outbox, prismaExecutor, prismaStore } from '../src/index.js';
import { databases, openTestDatabase, REFUSED_TOPIC, type TestDatabase } from './databases.js';

class Rollback extends Error {}

/** Resolve a promise from outside, to hold a transaction open while the test looks at it. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => {
    open = r;
  });
  return { open, opened };
}

describe.each(databases)('$label', (database) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await openTestDatabase(database);
  });
  afterAll(async () => {
    await db?.close();
  });

  describe('tx.$outbox inside prisma.$transaction', () => {
    it('commits the business row and the message together, and the relay delivers the message', async () => {
      const order = await db.prisma.$transaction(async (tx) => {
        const order = await tx.order.create({ data: { customer: 'ada', total: 42 } });
        const written = await tx.$outbox({
          topic: 'orders.committed',
          key: String(order.id),
          payload: { type: 'OrderPlaced', id: order.id, total: order.total },
          headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
        });
        expect(written).toBe(1);
        return order;
      });
      expect(await db.prisma.order.findUnique({ where: { id: order.id } })).toMatchObject({
        customer: 'ada',
      });

      // The relay runs on Prisma alone: claim, send and record in one interactive transaction.
      const sender = recordingSender();
      const relay = createRelay({ store: prismaStore(db.prisma, db.tableOptions), sender });
      const summary = await relay.runOnce();
      expect(summary).toMatchObject({ sent: 1 });
      expect(sender.deliveries).toHaveLength(1);
      const [delivered] = sender.deliveries;
      expect(delivered).toMatchObject({
        topic: 'orders.committed',
        key: String(order.id),
        contentType: 'application/json',
        headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
      });
      expect(payloadJson(delivered!)).toEqual({ type: 'OrderPlaced', id: order.id, total: 42 });
      // Recorded as sent: a second run finds nothing.
      expect(await relay.runOnce()).toMatchObject({ batches: 0 });
    });

    it('rolls back the business row and the message when the transaction throws', async () => {
      const error = await db.prisma
        .$transaction(async (tx) => {
          await tx.order.create({ data: { customer: 'rolled-back', total: 1 } });
          await tx.$outbox({ topic: 'orders.rolled-back', payload: { n: 1 } });
          throw new Rollback('payment declined');
        })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Rollback);
      expect(await db.prisma.order.count({ where: { customer: 'rolled-back' } })).toBe(0);
      expect(await db.outboxCount('orders.rolled-back')).toBe(0);
    });

    it('writes through the transaction client, not the base client: invisible to others before commit, gone after a rollback', async () => {
      const written = gate();
      const looked = gate();
      const tx = db.prisma
        .$transaction(async (tx) => {
          await tx.$outbox({ topic: 'trap.ours', payload: 1 });
          // The transaction sees its own write…
          const [mine] = await tx.$queryRawUnsafe<{ n: unknown }[]>(
            `SELECT COUNT(*) AS n FROM ${db.outboxTable} WHERE topic = ${database.p(1)}`,
            'trap.ours',
          );
          expect(Number(mine!.n)).toBe(1);
          written.open();
          await looked.opened;
          throw new Rollback('after looking');
        })
        .catch((e: unknown) => e);
      await written.opened;
      // …another connection does not, while the transaction is still open.
      expect(await db.outboxCount('trap.ours')).toBe(0);
      looked.open();
      expect(await tx).toBeInstanceOf(Rollback);
      expect(await db.outboxCount('trap.ours')).toBe(0);
    });

    it('would catch the trap: an extension that closes over the base client writes outside the transaction', async () => {
      // The known mistake, built on purpose, to show the test above can tell the difference.
      const leaky = db.base.$extends({
        client: {
          async $leakyOutbox(message: NewMessage) {
            // Without `autocommit: true` the transaction guard refuses this write; with it, nothing
            // can tell the base client captured here from the transaction's, and the write escapes.
            const add = outbox({ ...db.tableOptions, autocommit: true });
            // Extends the base client captured here, not `this`: the write escapes the transaction.
            return db.base.$extends(add).$outbox(message);
          },
        },
      });
      const written = gate();
      const looked = gate();
      const tx = leaky
        .$transaction(async (tx) => {
          await tx.$leakyOutbox({ topic: 'trap.leaky', payload: 1 });
          written.open();
          await looked.opened;
          throw new Rollback('after looking');
        })
        .catch((e: unknown) => e);
      await written.opened;
      expect(await db.outboxCount('trap.leaky')).toBe(1);
      looked.open();
      expect(await tx).toBeInstanceOf(Rollback);
      expect(await db.outboxCount('trap.leaky')).toBe(1);
    });

    it('would not work as tx.$outbox.add: Prisma binds `this` of a nested method to the nested object', async () => {
      // Why the API is a client-level method: if Prisma ever binds nested methods to the client,
      // this test fails and tx.$outbox.add(…) becomes possible.
      const probe = db.base.$extends({
        client: {
          $nested: {
            self(this: unknown) {
              return this;
            },
          },
          $direct(this: unknown) {
            return this;
          },
        },
      });
      await probe.$transaction(async (tx) => {
        expect(tx.$nested.self() === probe.$nested).toBe(true);
        expect(typeof (tx.$nested.self() as { $queryRawUnsafe?: unknown }).$queryRawUnsafe).toBe('undefined');
        expect(typeof (tx.$direct() as { $queryRawUnsafe?: unknown }).$queryRawUnsafe).toBe('function');
        // (Compared by identity: vitest cannot print a Prisma client proxy in a failure diff.)
        expect(tx.$direct() === probe.$direct()).toBe(false);
      });
    });

    it('writes many messages in one statement inside the transaction', async () => {
      const messages = Array.from({ length: 50 }, (_, i) => ({
        topic: 'orders.bulk',
        key: `k${i % 5}`,
        payload: { i },
      }));
      await db.prisma.$transaction(async (tx) => {
        await tx.order.create({ data: { customer: 'bulk', total: 50 } });
        expect(await tx.$outbox(messages)).toBe(50);
      });
      expect(await db.outboxCount('orders.bulk')).toBe(50);
    });
  });

  describe('prisma.$outbox outside a transaction, with outbox({ autocommit: true })', () => {
    it('writes every message of the call, bytes as given', async () => {
      const payload = new Uint8Array([0, 1, 2, 253, 254, 255]);
      expect(
        await db.autocommit.$outbox([
          { topic: 'outside', payload: { a: 1 } },
          { topic: 'outside', payload },
          { topic: 'outside', payload: null, availableAt: new Date(Date.now() + 3_600_000) },
        ]),
      ).toBe(3);
      const rows = await db.peek.query(
        `SELECT payload, content_type FROM ${db.outboxTable} WHERE topic = ${database.p(1)} ORDER BY id`,
        ['outside'],
      );
      expect(rows).toHaveLength(3);
      expect([...rows[1]!.payload]).toEqual([...payload]);
      expect(rows.map((r) => r.content_type)).toEqual([
        'application/json',
        'application/octet-stream',
        'application/json',
      ]);
    });

    it('is atomic even when the call needs more than one INSERT statement', async () => {
      // A trigger refuses the last row, which lands in the second statement: the first statement's
      // rows must not be left behind.
      await db.database.refuseTopic(db.peek, db.isolated);
      const max = (database.name === 'mysql' ? mysql() : postgres()).maxRowsPerInsert;
      // Due in an hour, so that the relay tests below need not deliver them.
      const availableAt = new Date(Date.now() + 3_600_000);
      const messages: NewMessage[] = Array.from({ length: max }, (_, i) => ({
        topic: 'outside.big',
        payload: i,
        availableAt,
      }));
      const refused = await db.autocommit
        .$outbox([...messages, { topic: REFUSED_TOPIC, payload: 'last' }])
        .catch((e: unknown) => e);
      expect(String(refused)).toContain('refused by a test trigger');
      expect(await db.outboxCount('outside.big')).toBe(0);
      // Without the refused row, the same call writes everything.
      const all = [...messages, { topic: 'outside.big', payload: 'last', availableAt }];
      expect(await db.autocommit.$outbox(all)).toBe(max + 1);
      expect(await db.outboxCount('outside.big')).toBe(max + 1);
      // Inside a transaction, the same call writes in the caller's transaction, and so rolls back with it.
      const inside = all.map((m) => ({ ...m, topic: 'inside.big' }));
      const rolledBack = await db.prisma
        .$transaction(async (tx) => {
          expect(await tx.$outbox(inside)).toBe(max + 1);
          throw new Rollback('after writing');
        })
        .catch((e: unknown) => e);
      expect(rolledBack).toBeInstanceOf(Rollback);
      expect(await db.outboxCount('inside.big')).toBe(0);
    });

    it('the shipped model reads what the extension wrote, through Prisma Client', async () => {
      await db.autocommit.$outbox({
        topic: 'model.read',
        key: 'k',
        payload: { hello: 'trout' },
        headers: { h: 'v' },
      });
      const [row] = await db.prisma.outboxMessage.findMany({ where: { topic: 'model.read' } });
      // JSON on PostgreSQL; JSON text in a LONGTEXT column on MySQL.
      const headers = typeof row?.headers === 'string' ? JSON.parse(row.headers) : row?.headers;
      expect(headers).toEqual({ h: 'v' });
      expect(row).toMatchObject({
        topic: 'model.read',
        key: 'k',
        contentType: 'application/json',
        status: 'pending',
        attempts: 0,
        sentAt: null,
        lastError: null,
      });
      expect(typeof row!.id).toBe('bigint');
      expect(JSON.parse(Buffer.from(row!.payload).toString('utf8'))).toEqual({ hello: 'trout' });
      expect(row!.availableAt).toBeInstanceOf(Date);
    });
  });

  describe('bad input', () => {
    it('rejects invalid messages with a typed OutboxError and writes nothing, in or out of a transaction', async () => {
      const bad: unknown[] = [
        { topic: '', payload: 1 },
        { topic: 'bad', payload: undefined },
        { topic: 'bad', payload: { n: Number.NaN } },
        { topic: 'bad', payload: 1, headers: { h: 1 } },
        { topic: 'bad', payload: 1, extra: true },
        { topic: 'bad', payload: 'x'.repeat(2 * 1024 * 1024) },
        'not a message',
      ];
      for (const message of bad) {
        const inside = await db.prisma
          .$transaction(async (tx) => {
            await tx.order.create({ data: { customer: 'bad-input', total: 0 } });
            await tx.$outbox([{ topic: 'bad', payload: 'valid first' }, message as NewMessage]);
          })
          .catch((e: unknown) => e);
        expect(isOutboxError(inside), String(inside)).toBe(true);
        // With autocommit, so that only the message itself can be refused.
        const outside = await db.autocommit
          .$outbox([{ topic: 'bad', payload: 1 }, message as NewMessage])
          .catch((e) => e);
        expect(isOutboxError(outside), String(outside)).toBe(true);
        expect(isOutboxError(outside, 'NOT_IN_TRANSACTION'), String(outside)).toBe(false);
      }
      expect(await db.outboxCount('bad')).toBe(0);
      expect(await db.prisma.order.count({ where: { customer: 'bad-input' } })).toBe(0);
    });

    it('rejects a detached $outbox call: it would not know which transaction to write in', async () => {
      const detached = db.prisma.$outbox;
      const error = await detached({ topic: 'detached', payload: 1 }).catch((e: unknown) => e);
      expect(isOutboxError(error, 'INVALID_OPTION')).toBe(true);
      expect(await db.outboxCount('detached')).toBe(0);
    });

    it('rejects bad options before any query', () => {
      const codeOf = (fn: () => unknown) => {
        try {
          fn();
        } catch (e) {
          return isOutboxError(e) ? e.code : `not an OutboxError: ${String(e)}`;
        }
        return 'no error';
      };
      const place = database.name === 'mysql' ? 'database' : 'schema';
      expect(codeOf(() => outbox({ ...db.tableOptions, [place]: 'app; DROP TABLE x' }))).toBe(
        'INVALID_IDENTIFIER',
      );
      expect(codeOf(() => outbox({ ...db.tableOptions, table: '"quoted"' }))).toBe('INVALID_IDENTIFIER');
      expect(codeOf(() => outbox({ ...db.tableOptions, table: '`quoted`' }))).toBe('INVALID_IDENTIFIER');
      // The other database's option is a mistake, not something to ignore.
      expect(codeOf(() => outbox({ dialect: 'mysql', schema: 'app' }))).toBe('INVALID_OPTION');
      expect(codeOf(() => outbox({ dialect: 'postgres', database: 'app' }))).toBe('INVALID_OPTION');
      expect(codeOf(() => outbox({ dialect: mysql(), table: 'x' }))).toBe('INVALID_OPTION');
      expect(codeOf(() => outbox({ dialect: 'oracle' as 'postgres' }))).toBe('INVALID_OPTION');
      expect(codeOf(() => outbox({ onAdd: 5 as never }))).toBe('INVALID_OPTION');
      expect(codeOf(() => outbox({ limits: { maxPayloadBytes: -1 } }))).toBe('INVALID_OPTION');
      expect(codeOf(() => outbox({ autocommit: 'yes' as never }))).toBe('INVALID_OPTION');
      expect(codeOf(() => prismaExecutor(db.prisma, { timeoutMs: 0 }))).toBe('INVALID_OPTION');
      expect(codeOf(() => prismaExecutor(db.prisma, { maxWaitMs: 1.5 }))).toBe('INVALID_OPTION');
      expect(codeOf(() => prismaExecutor({} as never))).toBe('INVALID_OPTION');
      expect(codeOf(() => prismaStore(db.prisma, { ...db.tableOptions, table: 'x y' }))).toBe(
        'INVALID_IDENTIFIER',
      );
    });
    it('rejects unknown option names with INVALID_OPTION: outbox, prismaExecutor, prismaStore', () => {
      const codeOf = (fn: () => unknown) => {
        try {
          fn();
        } catch (e) {
          return isOutboxError(e) ? e.code : `not an OutboxError: ${String(e)}`;
        }
        return 'no error';
      };
      // A misplaced or misspelt option would otherwise be silently ignored.
      expect(codeOf(() => outbox({ ...db.tableOptions, ordering: 'key' } as never))).toBe('INVALID_OPTION');
      expect(codeOf(() => outbox({ ...db.tableOptions, autoCommit: true } as never))).toBe('INVALID_OPTION');
      expect(codeOf(() => outbox({ ...db.tableOptions, timeoutMs: 5 } as never))).toBe('INVALID_OPTION');
      expect(codeOf(() => prismaExecutor(db.prisma, { timeout: 5 } as never))).toBe('INVALID_OPTION');
      expect(codeOf(() => prismaExecutor(db.prisma, { schema: 'x' } as never))).toBe('INVALID_OPTION');
      expect(codeOf(() => prismaStore(db.prisma, { ...db.tableOptions, batchSize: 5 } as never))).toBe(
        'INVALID_OPTION',
      );
      expect(codeOf(() => prismaStore(db.prisma, { ...db.tableOptions, onAdd: () => {} } as never))).toBe(
        'INVALID_OPTION',
      );
      // The known ones still pass.
      expect(codeOf(() => outbox({ ...db.tableOptions, autocommit: true, onAdd: () => {} }))).toBe(
        'no error',
      );
      expect(
        codeOf(() =>
          prismaStore(db.prisma, {
            ...db.tableOptions,
            autocommit: true,
            timeoutMs: 1000,
            adminBatchSize: 10,
          }),
        ),
      ).toBe('no error');
    });
  });

  describe('relay on prismaExecutor', () => {
    it('delivers every committed message exactly once with concurrent batches, then stops', async () => {
      const total = 300;
      for (let i = 0; i < total; i += 100) {
        await db.prisma.$transaction(async (tx) => {
          await tx.$outbox(
            Array.from({ length: 100 }, (_, j) => ({ topic: 'relay.many', payload: { n: i + j } })),
          );
        });
      }
      const sender = recordingSender();
      const relay = createRelay({
        store: prismaStore(db.prisma, { ...db.tableOptions, timeoutMs: 30_000 }),
        sender,
        batchSize: 40,
        concurrency: 3,
        pollIntervalMs: 20,
      });
      await relay.start();
      try {
        await waitFor(() => sender.deliveries.filter((m) => m.topic === 'relay.many').length >= total, {
          timeoutMs: 20_000,
        });
      } finally {
        await relay.stop();
      }
      const seen = sender.deliveries
        .filter((m) => m.topic === 'relay.many')
        .map((m) => payloadJson<{ n: number }>(m).n);
      expect(seen).toHaveLength(total);
      expect(new Set(seen).size).toBe(total);
      expect(await db.outboxCount('relay.many', 'sent')).toBe(total);
    });

    it('a relay holding a claimed batch does not block producers', async () => {
      // On MySQL the relay's transaction runs at READ COMMITTED: at InnoDB's default REPEATABLE
      // READ, its claim would also lock the index gap new pending rows go into, and this insert
      // would wait for the batch to be sent.
      await db.autocommit.$outbox({ topic: 'held', payload: 1 });
      const claimed = gate();
      const release = gate();
      const relay = createRelay({
        store: prismaStore(db.prisma, db.tableOptions),
        sender: {
          async send(messages) {
            claimed.open();
            await release.opened;
            return messages.map(() => ({ status: 'sent' as const }));
          },
        },
        batchSize: 1000,
      });
      const run = relay.runOnce({ maxBatches: 1 });
      try {
        await claimed.opened;
        let written = false;
        const write = db.autocommit.$outbox({ topic: 'while.held', payload: 2 }).then(() => {
          written = true;
        });
        await waitFor(() => written, { timeoutMs: 5_000, message: 'an insert while a batch is held' });
        await write;
      } finally {
        release.open();
        await run;
      }
      expect(await db.outboxCount('while.held', 'pending')).toBe(1);
    });
  });

  describe('prismaExecutor transactions', () => {
    it('honour the isolation level core asks for, before the configured default', async () => {
      const fish = database.table(db.isolated, 'fish');
      const p = database.p;
      await db.peek.query(`CREATE TABLE ${fish} (name VARCHAR(32) PRIMARY KEY)`);
      // The level shows in behaviour: a row another connection commits mid-transaction is seen by
      // the next read under read committed, and not under repeatable read.
      const seesConcurrentCommit = (
        exec: ReturnType<typeof prismaExecutor>,
        name: string,
        isolationLevel?: 'read committed' | 'repeatable read',
      ) =>
        exec.transaction(
          async (tx) => {
            await tx.query(`SELECT COUNT(*) AS n FROM ${fish}`);
            await db.peek.query(`INSERT INTO ${fish} (name) VALUES (${p(1)})`, [name]);
            const again = await tx.query(`SELECT name FROM ${fish} WHERE name = ${p(1)}`, [name]);
            return again.rowCount === 1;
          },
          isolationLevel === undefined ? undefined : { isolationLevel },
        );
      const plain = prismaExecutor(db.prisma);
      expect(await seesConcurrentCommit(plain, 'rc', 'read committed')).toBe(true);
      expect(await seesConcurrentCommit(plain, 'rr', 'repeatable read')).toBe(false);
      const configured = prismaExecutor(db.prisma, { isolationLevel: 'RepeatableRead' });
      expect(await seesConcurrentCommit(configured, 'default-rr')).toBe(false);
      expect(await seesConcurrentCommit(configured, 'asked-rc', 'read committed')).toBe(true);
      const unknown = await plain
        .transaction(async () => 1, { isolationLevel: 'chaos' as never })
        .catch((e: unknown) => e);
      expect(isOutboxError(unknown, 'INVALID_OPTION')).toBe(true);
    });
  });
});
