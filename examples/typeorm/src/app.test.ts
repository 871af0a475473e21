import { uniqueName } from '@troutbox/core/testing';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { runExample } from './app.js';

const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = uniqueName('example_typeorm');

afterAll(async () => {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await client.end();
});

it('the TypeORM example delivers every committed event and none of the rolled-back one', async () => {
  const lines: string[] = [];
  const summary = await runExample({ databaseUrl, schema, log: (line) => lines.push(line) });
  expect(summary.rolledBackDelivered).toBe(0);
  expect(summary.delivered).toHaveLength(5);
  const text = summary.delivered.join('\n');
  for (const type of ['OrderPlaced', 'OrderPaid', 'BatchClosed']) expect(text).toContain(type);
  expect(text).not.toContain('mallory');
  // Run again on the same schema: migrations are up to date, delivery works the same.
  const again = await runExample({ databaseUrl, schema, log: (line) => lines.push(line) });
  expect(again.delivered).toHaveLength(5);
  expect(lines).toContain('migrations: up to date');
});
