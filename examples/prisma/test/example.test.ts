import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { generateClient } from '../src/generate.js';
import { migrate } from '../src/migrate.js';

const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `example_prisma_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;

beforeAll(async () => {
  generateClient();
  await migrate(databaseUrl, schema);
});
afterAll(async () => {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await client.end();
});

it('commits orders with their messages, rolls back the declined one, and delivers every committed message', async () => {
  const { runExample } = await import('../src/app.js');
  const lines: string[] = [];
  const { committed, delivered } = await runExample({
    databaseUrl,
    schema,
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
