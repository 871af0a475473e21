// Orders and their OrderPlaced messages written in one drizzle transaction each; a relay in the
// same process delivers the messages to the console. One order fails after its insert and takes
// its message down with it.
//
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test pnpm start
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import {
  createOutbox,
  createRelay,
  type OutboxMessage,
  payloadJson,
  postgres,
  type Sender,
  SqlMessageStore,
  sent,
} from '@troutbox/core';
import { addMessage, drizzleExecutor } from '@troutbox/drizzle';
import { drizzle } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';
import * as schema from './schema.js';

const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const orderCount = Number(process.env.ORDERS ?? 5);

/** Prints each message; a real app uses a broker sender (@troutbox/rabbitmq, …). */
const consoleSender: Sender = {
  name: 'console',
  async send(messages: readonly OutboxMessage[]) {
    for (const m of messages) console.log(`→ ${m.topic} #${m.id} key=${m.key}`, payloadJson(m));
    return messages.map(() => sent());
  },
};

const pool = new pg.Pool({ connectionString: databaseUrl, max: 5 });
const db = drizzle(pool, { schema });

// The migration drizzle-kit generated from src/schema.ts: the orders table and the outbox table.
await migrate(db, {
  migrationsFolder: fileURLToPath(new URL('../drizzle', import.meta.url)),
  // Its own bookkeeping table: the migration creates schema "shop", so that cannot hold it.
  migrationsTable: '__example_drizzle_migrations',
});

const dialect = postgres({ schema: 'shop' });
const store = new SqlMessageStore({ dialect, db: drizzleExecutor(db) });
const relay = createRelay({ store, sender: consoleSender, pollIntervalMs: 200 });
// Wakes the relay in this process as soon as a message is written, instead of at the next poll.
const outbox = createOutbox({ dialect, onAdd: () => relay.wake() });
let delivered = 0;
relay.on('sent', ({ messages }) => {
  delivered += messages.length;
});
await relay.start();

async function placeOrder(customer: string, totalCents: number, fail = false): Promise<string> {
  return db.transaction(async (tx) => {
    const [order] = await tx
      .insert(schema.orders)
      .values({ id: randomUUID(), customer, totalCents })
      .returning();
    await addMessage(
      tx,
      {
        topic: 'orders',
        key: order!.id,
        payload: {
          type: 'OrderPlaced',
          id: order!.id,
          customer,
          totalCents,
          at: order!.createdAt.toISOString(),
        },
      },
      { outbox },
    );
    if (fail) throw new Error(`payment declined for ${customer}`);
    return order!.id;
  });
}

for (let i = 1; i <= orderCount; i++) await placeOrder(`customer-${i}`, i * 1000);
await placeOrder('mallory', 1, true).catch((e: Error) => console.log(`rolled back: ${e.message}`));

// Wait, with a deadline, until the relay has delivered every committed order.
const deadline = Date.now() + 10_000;
while (delivered < orderCount && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
await relay.stop();
console.log(`delivered ${delivered} of ${orderCount} messages`);
await pool.end();
process.exitCode = delivered === orderCount ? 0 : 1;
