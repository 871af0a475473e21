import { uniqueName, waitFor } from '@troutbox/core/testing';
import { exampleSender } from '@troutbox/example-support';
import amqp from 'amqplib';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { runShop } from './shop.js';

const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = uniqueName('kyshop');
const amqpUrl = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

afterAll(async () => {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await client.end();
});

it('the Kysely example delivers every committed order and nothing of the refused one', async () => {
  const lines: string[] = [];
  const summary = await runShop({ databaseUrl, schema, log: (l) => lines.push(l) });
  expect(summary).toEqual({ placed: 4, refused: 1, delivered: 5, deliveredWithoutOrder: 0 });
  expect(lines.some((l) => l.includes('golden trout') && l.includes('→'))).toBe(false);
  // Running it again on the same schema is fine: migrations are already there.
  const again = await runShop({ databaseUrl, schema });
  expect(again.deliveredWithoutOrder).toBe(0);
  expect(again.delivered).toBe(5);
});

it('with AMQP_URL set, the example delivers to RabbitMQ', async () => {
  const exchange = uniqueName('tx_example');
  const queue = uniqueName('tq_example');
  const { sender, describe } = exampleSender({ env: { AMQP_URL: amqpUrl }, exchange, queue });
  expect(describe).toContain('RabbitMQ');
  const conn = await amqp.connect(amqpUrl);
  try {
    const rmqSchema = uniqueName('kyshop_rmq');
    try {
      const summary = await runShop({ databaseUrl, schema: rmqSchema, sender });
      expect(summary.delivered).toBe(5);
      const ch = await conn.createChannel();
      const received: string[] = [];
      await ch.consume(queue, (m) => m && received.push(m.properties.messageId as string), { noAck: true });
      await waitFor(() => received.length >= 5);
      expect(new Set(received).size).toBe(5);
      await ch.deleteQueue(queue);
      await ch.deleteExchange(exchange);
    } finally {
      const client = new pg.Client({ connectionString: databaseUrl });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${rmqSchema}" CASCADE`);
      await client.end();
    }
  } finally {
    await conn.close();
  }
});
