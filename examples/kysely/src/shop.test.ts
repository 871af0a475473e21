import { uniqueName, waitFor } from '@troutbox/core/testing';
import { exampleSender } from '@troutbox/example-support';
import amqp from 'amqplib';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { runShop } from './shop.js';

const amqpUrl = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

// The same shop on each database; each run in a schema (a database on MySQL) of its own.
const databases = [
  {
    name: 'PostgreSQL',
    url: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    async drop(url: string, schema: string) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await client.end();
      }
    },
    async tables(url: string, schema: string) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const { rows } = await client.query<{ name: string }>(
          'SELECT table_name AS name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1',
          [schema],
        );
        return rows.map((r) => r.name);
      } finally {
        await client.end();
      }
    },
  },
  {
    name: 'MariaDB',
    url: process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test',
    async drop(url: string, database: string) {
      const conn = await mysql.createConnection({ uri: url });
      try {
        await conn.query(`DROP DATABASE IF EXISTS \`${database}\``);
      } finally {
        await conn.end();
      }
    },
    async tables(url: string, database: string) {
      const conn = await mysql.createConnection({ uri: url });
      try {
        const [rows] = await conn.query(
          'SELECT table_name AS name FROM information_schema.tables WHERE table_schema = ? ORDER BY 1',
          [database],
        );
        return (rows as { name: string }[]).map((r) => r.name);
      } finally {
        await conn.end();
      }
    },
  },
];

describe.each(databases)('the Kysely example on $name', ({ url, drop, tables }) => {
  const schema = uniqueName('kyshop');
  afterAll(() => drop(url, schema));

  it('delivers every committed order and nothing of the refused one', async () => {
    const lines: string[] = [];
    const summary = await runShop({ databaseUrl: url, schema, log: (l) => lines.push(l) });
    expect(summary).toEqual({ placed: 4, refused: 1, delivered: 5, deliveredWithoutOrder: 0 });
    expect(lines.some((l) => l.includes('golden trout') && l.includes('→'))).toBe(false);
    expect(lines.some((l) => l.includes('sea trout') && l.includes('→'))).toBe(true);
    // Everything the example made is in its own schema (database): nothing in the URL's.
    expect(await tables(url, schema)).toEqual([
      'kysely_migration',
      'kysely_migration_lock',
      'orders',
      'outbox_messages',
      // Core's migration 2: the key counters of `ordering: 'key'`.
      'outbox_messages_keys',
      'troutbox_migration',
      'troutbox_migration_lock',
    ]);
    // Running it again on the same schema is fine: migrations are already there.
    const again = await runShop({ databaseUrl: url, schema });
    expect(again.deliveredWithoutOrder).toBe(0);
    expect(again.delivered).toBe(5);
  });
});

it('with AMQP_URL set, the example delivers to RabbitMQ', async () => {
  const { url, drop } = databases[0]!;
  const exchange = uniqueName('tx_example');
  const queue = uniqueName('tq_example');
  const { sender, describe } = exampleSender({ env: { AMQP_URL: amqpUrl }, exchange, queue });
  expect(describe).toContain('RabbitMQ');
  const conn = await amqp.connect(amqpUrl);
  try {
    const rmqSchema = uniqueName('kyshop_rmq');
    try {
      const summary = await runShop({ databaseUrl: url, schema: rmqSchema, sender });
      expect(summary.delivered).toBe(5);
      const ch = await conn.createChannel();
      const received: string[] = [];
      await ch.consume(queue, (m) => m && received.push(m.properties.messageId as string), { noAck: true });
      await waitFor(() => received.length >= 5);
      expect(new Set(received).size).toBe(5);
      await ch.deleteQueue(queue);
      await ch.deleteExchange(exchange);
    } finally {
      await drop(url, rmqSchema);
    }
  } finally {
    await conn.close();
  }
});

it('refuses a URL of another database with a clear error', async () => {
  await expect(runShop({ databaseUrl: 'sqlite:///tmp/shop.db', schema: 'unused' })).rejects.toThrow(
    /DATABASE_URL must start with postgres:\/\/.*mysql:\/\//,
  );
});
