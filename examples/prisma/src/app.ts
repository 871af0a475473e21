import { PrismaPg } from '@prisma/adapter-pg';
import { createRelay, type OutboxMessage, payloadJson, type Relay, type Sender } from '@troutbox/core';
import { outbox, prismaStore } from '@troutbox/prisma';
import { PrismaClient } from './generated/prisma/client.js';

/** A sender that prints each message: swap in a broker package's sender in a real app. */
export function consoleSender(log: (line: string) => void): Sender {
  return {
    name: 'console',
    async send(messages: readonly OutboxMessage[]) {
      for (const m of messages) log(`→ ${m.topic} key=${m.key} ${JSON.stringify(payloadJson(m))}`);
      return messages.map(() => ({ status: 'sent' as const }));
    },
  };
}

export interface ExampleOptions {
  databaseUrl: string;
  /** Schema of the example's tables (the datasource's schema). */
  schema: string;
  orders: number;
  log: (line: string) => void;
}

/**
 * Place `orders` orders, each with its OrderPlaced message in the same transaction (one of them
 * fails and rolls back both), while a relay delivers the messages to the console.
 * Returns the ids of the orders that committed and the messages delivered.
 */
export async function runExample({ databaseUrl, schema, orders, log }: ExampleOptions) {
  const prisma = new PrismaClient({
    adapter: new PrismaPg({ connectionString: databaseUrl }, { schema }),
  }).$extends(outbox({ schema }));
  const delivered: OutboxMessage[] = [];
  const sender = consoleSender(log);
  const relay: Relay = createRelay({
    store: prismaStore(prisma, { schema }),
    sender: {
      name: sender.name,
      send: async (messages, context) => {
        delivered.push(...messages);
        return sender.send(messages, context);
      },
    },
    batchSize: 100,
    pollIntervalMs: 200,
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
