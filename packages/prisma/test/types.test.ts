// Type tests: checked by `tsc -p packages/prisma/tsconfig.json` (pnpm typecheck); the runtime
// assertions only make sure the file runs.
import { PrismaMariaDb } from '@prisma/adapter-mariadb';
import { PrismaPg } from '@prisma/adapter-pg';
import { mysql, type NewMessage, type SqlMessageStore, type TransactionalExecutor } from '@troutbox/core';
import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  type DialectName,
  type OutboxMethod,
  type OutboxPromise,
  outbox,
  prismaExecutor,
  prismaRaw,
  prismaStore,
} from '../src/index.js';
import { PrismaClient as MysqlPrismaClient } from './generated/mysql/client/client.js';
import { PrismaClient } from './generated/postgres/client/client.js';

const base = new PrismaClient({ adapter: new PrismaPg({ connectionString: 'postgres://unused' }) });
const prisma = base.$extends(outbox());
type Extended = typeof prisma;

describe('types', () => {
  it('types $outbox on the extended client and on its transaction client', () => {
    expectTypeOf<Extended['$outbox']>().toEqualTypeOf<OutboxMethod>();
    expectTypeOf<Extended['$outbox']>().parameter(0).toEqualTypeOf<NewMessage | readonly NewMessage[]>();
    expectTypeOf<Extended['$outbox']>().returns.resolves.toBeNumber();
    // The base client is untouched.
    expectTypeOf(base).not.toHaveProperty('$outbox');

    // Never called: the callback is here for its types, as a user would write it.
    const run = () =>
      prisma.$transaction(async (tx) => {
        expectTypeOf(tx.$outbox).toEqualTypeOf<OutboxMethod>();
        // The user's models stay typed next to it.
        expectTypeOf(tx.order.create).toBeFunction();
        await tx.$outbox({ topic: 'orders', key: '1', payload: { type: 'OrderPlaced', total: 42 } });
        await tx.$outbox([
          { topic: 'a', payload: new Uint8Array([1]) },
          { topic: 'b', payload: null },
        ]);
        await tx.$outbox({ topic: 't', payload: 1, headers: { traceparent: 'x' }, availableAt: new Date() });
        // @ts-expect-error topic is required
        await tx.$outbox({ payload: 1 });
        // @ts-expect-error payload is required
        await tx.$outbox({ topic: 't' });
        // @ts-expect-error key is a string
        await tx.$outbox({ topic: 't', key: 5, payload: 1 });
        // @ts-expect-error headers are strings
        await tx.$outbox({ topic: 't', payload: 1, headers: { n: 1 } });
        // @ts-expect-error a function is not JSON
        await tx.$outbox({ topic: 't', payload: () => 1 });
        // @ts-expect-error not a message field
        await tx.$outbox({ topic: 't', payload: 1, extra: true });
        // @ts-expect-error a namespace would lose the transaction, so there is no `.add`
        await tx.$outbox.add({ topic: 't', payload: 1 });
      });
    expectTypeOf(run).returns.resolves.toBeVoid();
    expect(typeof prisma.$outbox).toBe('function');
  });

  it('types prisma.$outbox as an element of a batch $transaction([…])', () => {
    expectTypeOf(prisma.$outbox).returns.toEqualTypeOf<OutboxPromise>();
    // Never called: the batch is here for its types.
    const batch = () =>
      prisma.$transaction([
        prisma.order.create({ data: { customer: 'ada', total: 42 } }),
        prisma.$outbox({ topic: 'orders', payload: { total: 42 } }),
      ]);
    expectTypeOf(batch).returns.resolves.toMatchTypeOf<[{ id: number }, number]>();
    expect(typeof batch).toBe('function');
  });

  it('accepts plain, extended and transaction clients structurally', () => {
    expectTypeOf(prismaExecutor(base)).toEqualTypeOf<TransactionalExecutor>();
    expectTypeOf(prismaExecutor(prisma, { timeoutMs: 120_000 })).toEqualTypeOf<TransactionalExecutor>();
    expectTypeOf(prismaStore(prisma, { schema: 'app' })).toEqualTypeOf<SqlMessageStore>();
    const inTx = (tx: Parameters<Parameters<Extended['$transaction']>[0]>[0]) => prismaRaw(tx);
    expectTypeOf(inTx).toBeFunction();
    // @ts-expect-error not a Prisma client (and refused at run time too)
    expect(() => prismaRaw({ query: () => 1 })).toThrow(/Prisma client/);
    // @ts-expect-error a transaction client cannot open transactions for the relay
    expectTypeOf(prismaExecutor).toBeCallableWith({
      $queryRawUnsafe: base.$queryRawUnsafe,
      $executeRawUnsafe: base.$executeRawUnsafe,
    });
    expect(typeof prismaExecutor).toBe('function');
  });

  it('types the MySQL client the same way', () => {
    const mysqlBase = new MysqlPrismaClient({
      adapter: new PrismaMariaDb('mysql://unused@127.0.0.1/unused'),
    });
    const onMysql = mysqlBase.$extends(outbox({ dialect: 'mysql', database: 'app' }));
    expectTypeOf<(typeof onMysql)['$outbox']>().toEqualTypeOf<OutboxMethod>();
    expectTypeOf(mysqlBase).not.toHaveProperty('$outbox');
    const run = () =>
      onMysql.$transaction(async (tx) => {
        expectTypeOf(tx.$outbox).toEqualTypeOf<OutboxMethod>();
        const order = await tx.order.create({ data: { customer: 'ada', total: 42 } });
        await tx.$outbox({ topic: 'orders', key: String(order.id), payload: { total: order.total } });
        // @ts-expect-error payload is required
        await tx.$outbox({ topic: 't' });
      });
    expectTypeOf(run).returns.resolves.toBeVoid();
    expectTypeOf(prismaStore(onMysql, { dialect: 'mysql' })).toEqualTypeOf<SqlMessageStore>();
    expectTypeOf(
      prismaStore(onMysql, { dialect: mysql({ table: 'outbox' }) }),
    ).toEqualTypeOf<SqlMessageStore>();
    expectTypeOf<DialectName>().toEqualTypeOf<'postgres' | 'mysql'>();
    // @ts-expect-error not a database this package names
    expect(() => outbox({ dialect: 'oracle' })).toThrow(/unknown dialect/);
    expect(typeof onMysql.$outbox).toBe('function');
  });
});
