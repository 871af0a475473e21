import { PrismaMariaDb } from '@prisma/adapter-mariadb';
import { PrismaPg } from '@prisma/adapter-pg';
import {
  createRelay,
  type MessageStore,
  type OutboxMessage,
  payloadJson,
  type Relay,
  type Sender,
} from '@troutbox/core';
import { exampleSender } from '@troutbox/example-support';
import { type OutboxMethod, outbox, prismaStore } from '@troutbox/prisma';
import { databaseOf } from './database.js';
import { PrismaClient } from './generated/prisma/client.js';
import { PrismaClient as MysqlPrismaClient } from './generated/prisma-mysql/client.js';

/**
 * What the example uses of its Prisma client. The client generated for either database has it
 * (the same `Order` model), so the example's code is written once for both; an application on
 * one database uses its generated client's own type.
 */
interface ShopClient {
  $transaction<R>(fn: (tx: ShopTransaction) => Promise<R>): Promise<R>;
  $disconnect(): Promise<void>;
}
interface ShopTransaction {
  order: {
    create(args: { data: { customer: string; total: number } }): PromiseLike<{ id: number; total: number }>;
  };
  $outbox: OutboxMethod;
}

/**
 * The Prisma client for the database of `databaseUrl`, with the outbox extension, and the store
 * the relay reads. On MySQL and MariaDB: `@prisma/adapter-mariadb` and `outbox({ dialect: 'mysql' })`
 * (the table is in the URL's database); on PostgreSQL: `@prisma/adapter-pg` and the datasource's
 * schema.
 */
function connect(databaseUrl: string, schema: string): { prisma: ShopClient; store: MessageStore } {
  if (databaseOf(databaseUrl) === 'mysql') {
    const options = { dialect: 'mysql' } as const;
    const prisma = new MysqlPrismaClient({ adapter: new PrismaMariaDb(databaseUrl) }).$extends(
      outbox(options),
    );
    return { prisma, store: prismaStore(prisma, options) };
  }
  const prisma = new PrismaClient({
    adapter: new PrismaPg({ connectionString: databaseUrl }, { schema }),
  }).$extends(outbox({ schema }));
  return { prisma, store: prismaStore(prisma, { schema }) };
}

export interface ExampleOptions {
  /** `postgres://…`, or `mysql://…/<database>` for MySQL and MariaDB. */
  databaseUrl: string;
  /** PostgreSQL: schema of the example's tables (the datasource's schema). */
  schema: string;
  orders: number;
  log: (line: string) => void;
  /** Where to deliver. @defaultValue RabbitMQ when `AMQP_URL` is set, the console otherwise */
  sender?: Sender;
}

/**
 * Place `orders` orders, each with its OrderPlaced message in the same transaction (one of them
 * fails and rolls back both), while a relay delivers the messages to the console.
 * Returns the ids of the orders that committed and the messages delivered.
 */
export async function runExample({ databaseUrl, schema, orders, log, ...options }: ExampleOptions) {
  const { prisma, store } = connect(databaseUrl, schema);
  const delivered: OutboxMessage[] = [];
  const { sender, describe } = options.sender
    ? { sender: options.sender, describe: options.sender.name ?? 'the given sender' }
    : exampleSender({ log: () => {} });
  log(`delivering to ${describe}`);
  const relay: Relay = createRelay({ store, sender, batchSize: 100, pollIntervalMs: 200, closeSender: true });
  relay.on('sent', ({ messages }) => {
    for (const m of messages) log(`→ ${m.topic} key=${m.key} ${JSON.stringify(payloadJson(m))}`);
    delivered.push(...messages);
  });
  await relay.start();

  const committed: number[] = [];
  try {
    for (let i = 1; i <= orders; i++) {
      const customer = i === 3 ? 'declined' : `customer-${i}`;
      try {
        const order = await prisma.$transaction(async (tx) => {
          const order = await tx.order.create({ data: { customer, total: i * 10 } });
          await tx.$outbox({
            topic: 'orders',
            key: String(order.id),
            payload: { type: 'OrderPlaced', orderId: order.id, customer, total: order.total },
          });
          // A business rule fails after both writes: the order and its message roll back together.
          if (customer === 'declined') throw new Error('payment declined');
          return order;
        });
        committed.push(order.id);
        // Committed: wake the relay now rather than at its next poll.
        relay.wake();
        log(`order ${order.id} placed`);
      } catch (error) {
        log(`order for ${customer} rolled back: ${(error as Error).message}`);
      }
    }
    // Wait until the relay has delivered every committed order's message.
    const deadline = Date.now() + 30_000;
    while (delivered.filter((m) => committed.includes(Number(m.key))).length < committed.length) {
      if (Date.now() > deadline) throw new Error('the relay did not deliver every message within 30 s');
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    await relay.stop();
    await prisma.$disconnect();
  }
  return { committed, delivered };
}
