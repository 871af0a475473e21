import { quoteMysql, quotePg } from '@troutbox/core';
import { waitFor } from '@troutbox/core/testing';
import { exampleSender } from '@troutbox/example-support';
import amqp from 'amqplib';
import mysqlDriver from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateClient } from '../src/generate.js';
import { migrate } from '../src/migrate.js';

const postgresUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const mysqlUrl = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
const unique = () => `example_prisma_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;

/** Each database the example runs on: where its tables go (a schema of its own, or a database) and how they are dropped. */
const databases = [
  {
    name: 'PostgreSQL',
    open() {
      const schema = unique();
      return {
        databaseUrl: postgresUrl,
        schema,
        async drop() {
          const client = new pg.Client({ connectionString: postgresUrl });
          await client.connect();
          await client.query(`DROP SCHEMA IF EXISTS ${quotePg(schema)} CASCADE`);
          await client.end();
        },
      };
    },
  },
  {
    name: 'MariaDB',
    open() {
      const database = unique();
      const url = new URL(mysqlUrl);
      url.pathname = `/${database}`;
      return {
        databaseUrl: url.toString(),
        schema: 'unused',
        async drop() {
          const conn = await mysqlDriver.createConnection({ uri: mysqlUrl });
          await conn.query(`DROP DATABASE IF EXISTS ${quoteMysql(database)}`);
          await conn.end();
        },
      };
    },
  },
];

beforeAll(() => {
  generateClient();
});

describe.each(databases)('$name', (database) => {
  const target = database.open();
  beforeAll(async () => {
    await migrate(target.databaseUrl, target.schema);
  });
  afterAll(async () => {
    await target.drop();
  });

  it('commits orders with their messages, rolls back the declined one, and delivers every committed message', async () => {
    const { runExample } = await import('../src/app.js');
    const lines: string[] = [];
    const { committed, delivered } = await runExample({
      databaseUrl: target.databaseUrl,
      schema: target.schema,
      orders: 5,
      log: (l) => lines.push(l),
    });
    expect(committed).toHaveLength(4);
    expect(delivered.map((m) => Number(m.key)).sort((a, b) => a - b)).toEqual(
      [...committed].sort((a, b) => a - b),
    );
    expect(lines.some((l) => l.includes('rolled back: payment declined'))).toBe(true);
    expect(delivered.every((m) => m.topic === 'orders')).toBe(true);
  });
});

it('with AMQP_URL set, the Prisma example delivers to RabbitMQ', async () => {
  const { runExample } = await import('../src/app.js');
  const amqpUrl = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
  const exchange = unique();
  const queue = unique();
  const { sender } = exampleSender({ env: { AMQP_URL: amqpUrl }, exchange, queue });
  const target = databases[0]!.open();
  await migrate(target.databaseUrl, target.schema);
  const conn = await amqp.connect(amqpUrl);
  try {
    const { committed } = await runExample({ ...target, orders: 5, log: () => {}, sender });
    const ch = await conn.createChannel();
    const keys: string[] = [];
    await ch.consume(queue, (m) => m && keys.push(String(m.properties.headers?.['outbox-key'])), {
      noAck: true,
    });
    await waitFor(() => keys.length >= committed.length);
    expect(keys.map(Number).sort((a, b) => a - b)).toEqual([...committed].sort((a, b) => a - b));
    await ch.deleteQueue(queue);
    await ch.deleteExchange(exchange);
  } finally {
    await conn.close();
    await target.drop();
  }
});
