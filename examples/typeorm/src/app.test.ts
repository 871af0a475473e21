import { uniqueName, waitFor } from '@troutbox/core/testing';
import { exampleSender } from '@troutbox/example-support';
import amqp from 'amqplib';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { runExample } from './app.js';

// The same app on each database; each run in a schema (a database on MySQL) of its own.
const databases = [
  {
    name: 'PostgreSQL',
    url: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    async drop(url: string, schema: string) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
    },
  },
  {
    name: 'MariaDB',
    url: process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test',
    async drop(url: string, database: string) {
      const conn = await mysql.createConnection({ uri: url });
      await conn.query(`DROP DATABASE IF EXISTS \`${database}\``);
      await conn.end();
    },
  },
];

describe.each(databases)('the TypeORM example on $name', ({ url, drop }) => {
  const schema = uniqueName('example_typeorm');
  afterAll(() => drop(url, schema));

  it('delivers every committed event and none of the rolled-back one', async () => {
    const lines: string[] = [];
    const summary = await runExample({ databaseUrl: url, schema, log: (line) => lines.push(line) });
    expect(summary.rolledBackDelivered).toBe(0);
    expect(summary.delivered).toHaveLength(5);
    const text = summary.delivered.join('\n');
    for (const type of ['OrderPlaced', 'OrderPaid', 'BatchClosed']) expect(text).toContain(type);
    expect(text).not.toContain('mallory');
    // Run again on the same schema: migrations are up to date, delivery works the same.
    const again = await runExample({ databaseUrl: url, schema, log: (line) => lines.push(line) });
    expect(again.delivered).toHaveLength(5);
    expect(lines).toContain('migrations: up to date');
  });
});

it('with AMQP_URL set, the TypeORM example delivers to RabbitMQ', async () => {
  const amqpUrl = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
  const exchange = uniqueName('tx_example_typeorm');
  const queue = uniqueName('tq_example_typeorm');
  const { sender } = exampleSender({ env: { AMQP_URL: amqpUrl }, exchange, queue });
  const pgDb = databases[0]!;
  const schema = uniqueName('example_typeorm_rmq');
  const conn = await amqp.connect(amqpUrl);
  try {
    const summary = await runExample({ databaseUrl: pgDb.url, schema, sender, log: () => {} });
    expect(summary.delivered).toHaveLength(5);
    const ch = await conn.createChannel();
    const received: string[] = [];
    await ch.consume(queue, (m) => m && received.push(m.content.toString()), { noAck: true });
    await waitFor(() => received.length >= 5);
    expect(received.join('\n')).toContain('OrderPlaced');
    expect(received.join('\n')).not.toContain('mallory');
    await ch.deleteQueue(queue);
    await ch.deleteExchange(exchange);
  } finally {
    await conn.close();
    await pgDb.drop(pgDb.url, schema);
  }
});
