import { uniqueName } from '@troutbox/core/testing';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { runShop } from './shop.js';

const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = uniqueName('kyshop');

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
