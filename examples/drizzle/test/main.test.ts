import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { uniqueName } from '@troutbox/core/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const tsxCli = createRequire(import.meta.url).resolve('tsx/cli');
const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));

// The example creates schema "shop", so it runs in a database of its own, dropped afterwards.
describe('examples/drizzle', () => {
  const database = uniqueName('ex_drizzle');
  const url = new URL(databaseUrl);
  url.pathname = `/${database}`;
  let admin: pg.Client;

  beforeAll(async () => {
    admin = new pg.Client({ connectionString: databaseUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE "${database}"`);
  });
  afterAll(async () => {
    await admin?.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    await admin?.end();
  });

  it('migrates, writes orders with their messages, rolls one back, and delivers the rest', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [tsxCli, '--conditions=@troutbox/source', main],
      { env: { ...process.env, DATABASE_URL: url.toString(), ORDERS: '4' }, timeout: 60_000 },
    );
    expect(stdout).toContain('rolled back: payment declined for mallory');
    expect(stdout).toContain('delivered 4 of 4 messages');
    const client = new pg.Client({ connectionString: url.toString() });
    await client.connect();
    try {
      const orders = await client.query('SELECT customer FROM shop.orders ORDER BY total_cents');
      expect(orders.rows.map((r) => r.customer)).toEqual([
        'customer-1',
        'customer-2',
        'customer-3',
        'customer-4',
      ]);
      const outbox = await client.query(
        'SELECT status, count(*)::int AS n FROM shop.outbox_messages GROUP BY status',
      );
      expect(outbox.rows).toEqual([{ status: 'sent', n: 4 }]);
    } finally {
      await client.end();
    }
  });
});
