import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { uniqueName, waitFor } from '@troutbox/core/testing';
import amqp from 'amqplib';
import mysql2 from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const tsxCli = createRequire(import.meta.url).resolve('tsx/cli');
const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));

/** A database of the test's own on a server, with a way to read it and to drop it. */
interface Server {
  readonly name: string;
  /** Create the database; returns its URL. */
  create(database: string): Promise<string>;
  /** Rows of a query in that database. */
  rows(database: string, sql: string): Promise<Record<string, unknown>[]>;
  drop(database: string): Promise<void>;
  /** The qualified outbox and orders tables the example writes. */
  readonly tables: { orders: string; outbox: string };
}

const withDatabase = (url: string, database: string) => {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
};

const pgUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const mysqlUrl = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';

async function pgAdmin<T>(fn: (c: pg.Client) => Promise<T>, url = pgUrl): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function mysqlAdmin<T>(fn: (c: mysql2.Connection) => Promise<T>, url = mysqlUrl): Promise<T> {
  const conn = await mysql2.createConnection({ uri: url });
  try {
    return await fn(conn);
  } finally {
    await conn.end();
  }
}

const servers: Server[] = [
  {
    name: 'PostgreSQL',
    create: (db) =>
      pgAdmin(async (c) => void (await c.query(`CREATE DATABASE "${db}"`))).then(() =>
        withDatabase(pgUrl, db),
      ),
    rows: (db, sql) => pgAdmin(async (c) => (await c.query(sql)).rows, withDatabase(pgUrl, db)),
    drop: (db) => pgAdmin(async (c) => void (await c.query(`DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`))),
    tables: { orders: 'shop.orders', outbox: 'shop.outbox_messages' },
  },
  {
    name: 'MariaDB',
    create: (db) =>
      mysqlAdmin(async (c) => void (await c.query(`CREATE DATABASE \`${db}\``))).then(() =>
        withDatabase(mysqlUrl, db),
      ),
    rows: (db, sql) =>
      mysqlAdmin(
        async (c) => (await c.query(sql))[0] as Record<string, unknown>[],
        withDatabase(mysqlUrl, db),
      ),
    drop: (db) => mysqlAdmin(async (c) => void (await c.query(`DROP DATABASE IF EXISTS \`${db}\``))),
    tables: { orders: 'orders', outbox: 'outbox_messages' },
  },
];

// The example creates its tables (and on PostgreSQL schema "shop"), so it runs in a database of
// its own, dropped afterwards.
describe.each(servers)('examples/drizzle ($name)', (server) => {
  const database = uniqueName('ex_drizzle');
  let url: string;

  beforeAll(async () => {
    url = await server.create(database);
  });
  afterAll(async () => {
    await server.drop(database);
  });

  it('migrates, writes orders with their messages, rolls one back, and delivers the rest', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [tsxCli, '--conditions=@troutbox/source', main],
      { env: { ...process.env, DATABASE_URL: url, ORDERS: '4' }, timeout: 60_000 },
    );
    expect(stdout).toContain('rolled back: payment declined for mallory');
    expect(stdout).toContain('delivered 4 of 4 messages');
    const orders = await server.rows(
      database,
      `SELECT customer FROM ${server.tables.orders} ORDER BY total_cents`,
    );
    expect(orders.map((r) => r.customer)).toEqual(['customer-1', 'customer-2', 'customer-3', 'customer-4']);
    const outbox = await server.rows(
      database,
      `SELECT status, count(*) AS n FROM ${server.tables.outbox} GROUP BY status`,
    );
    expect(outbox.map((r) => ({ status: r.status, n: Number(r.n) }))).toEqual([{ status: 'sent', n: 4 }]);
  });
});

it('a mariadb:// DATABASE_URL runs the example on MariaDB (mysql2), like mysql://', async () => {
  const server = servers.find((s) => s.name === 'MariaDB')!;
  const database = uniqueName('ex_drizzle_mariadb');
  const url = (await server.create(database)).replace(/^mysql:/, 'mariadb:');
  try {
    expect(url.startsWith('mariadb://')).toBe(true);
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [tsxCli, '--conditions=@troutbox/source', main],
      { env: { ...process.env, DATABASE_URL: url, ORDERS: '2' }, timeout: 60_000 },
    );
    expect(stdout).toContain('delivered 2 of 2 messages');
    const outbox = await server.rows(database, `SELECT count(*) AS n FROM ${server.tables.outbox}`);
    expect(Number(outbox[0]!.n)).toBe(2);
  } finally {
    await server.drop(database);
  }
});

it('with AMQP_URL set, the example delivers to RabbitMQ', async () => {
  const amqpUrl = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
  const server = servers[0]!;
  const database = uniqueName('ex_drizzle_rmq');
  const exchange = uniqueName('tx_ex_drizzle');
  const queue = uniqueName('tq_ex_drizzle');
  const url = await server.create(database);
  const conn = await amqp.connect(amqpUrl);
  try {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [tsxCli, '--conditions=@troutbox/source', main],
      {
        env: {
          ...process.env,
          DATABASE_URL: url,
          ORDERS: '3',
          AMQP_URL: amqpUrl,
          AMQP_EXCHANGE: exchange,
          AMQP_QUEUE: queue,
        },
        timeout: 60_000,
      },
    );
    expect(stdout).toContain(`delivering to RabbitMQ exchange ${exchange}`);
    const ch = await conn.createChannel();
    const bodies: string[] = [];
    await ch.consume(queue, (m) => m && bodies.push(m.content.toString()), { noAck: true });
    await waitFor(() => bodies.length >= 3);
    expect(bodies.join()).not.toContain('mallory');
    await ch.deleteQueue(queue);
    await ch.deleteExchange(exchange);
  } finally {
    await conn.close();
    await server.drop(database);
  }
});
