// Orders and their OrderPlaced messages written in one drizzle transaction each; a relay in the
// same process delivers the messages to RabbitMQ when AMQP_URL is set, to the console otherwise. One order fails after its insert and takes
// its message down with it. PostgreSQL, or MySQL / MariaDB when DATABASE_URL starts with mysql://
// or mariadb://.
//
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test pnpm start
//   DATABASE_URL=mysql://root@127.0.0.1:3306/test pnpm start
//   DATABASE_URL=mariadb://root@127.0.0.1:3306/test pnpm start
import { createOutbox, createRelay, payloadJson, SqlMessageStore } from '@troutbox/core';
import { exampleSender } from '@troutbox/example-support';
import { databaseKind } from './database-kind.js';
import type { Shop } from './shop.js';

const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const orderCount = Number(process.env.ORDERS ?? 5);

// RabbitMQ when AMQP_URL is set, the console otherwise.
const { sender, describe } = exampleSender({ log: () => {} });
console.log(`delivering to ${describe}`);

// Each database's module migrates with drizzle's migrate() and writes with its drizzle types.
const { openShop } =
  databaseKind(databaseUrl) === 'mysql' ? await import('./mysql.js') : await import('./postgres.js');
const shop: Shop = await openShop(databaseUrl);

const store = new SqlMessageStore({ dialect: shop.dialect, db: shop.executor });
const relay = createRelay({ store, sender, pollIntervalMs: 200, closeSender: true });
// Wakes the relay in this process as soon as a message is written, instead of at the next poll.
const outbox = createOutbox({ dialect: shop.dialect, onAdd: () => relay.wake() });
let delivered = 0;
relay.on('sent', ({ messages }) => {
  for (const m of messages) console.log(`→ ${m.topic} #${m.id} key=${m.key}`, payloadJson(m));
  delivered += messages.length;
});
await relay.start();

for (let i = 1; i <= orderCount; i++) {
  await shop.placeOrder({ customer: `customer-${i}`, totalCents: i * 1000 }, outbox);
}
await shop
  .placeOrder({ customer: 'mallory', totalCents: 1 }, outbox, true)
  .catch((e: Error) => console.log(`rolled back: ${e.message}`));

// Wait, with a deadline, until the relay has delivered every committed order.
const deadline = Date.now() + 10_000;
while (delivered < orderCount && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
await relay.stop();
console.log(`delivered ${delivered} of ${orderCount} messages`);
await shop.close();
process.exitCode = delivered === orderCount ? 0 : 1;
