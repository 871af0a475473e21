import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createOutbox, pgPool, postgres } from '../src/index.js';
import { uniqueName } from '../src/testing/index.js';

const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = uniqueName('atomic');
const dialect = postgres({ schema });
let pool: pg.Pool;

beforeAll(async () => {
  pool = new pg.Pool({ connectionString: url, max: 2 });
  await dialect.migrate(pgPool(pool));
  // A database-side refusal of the very last row, after earlier statements have run.
  await pool.query(`CREATE FUNCTION "${schema}".refuse() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN IF NEW.topic = 'refused' THEN RAISE EXCEPTION 'refused by trigger'; END IF; RETURN NEW; END $$`);
  await pool.query(
    `CREATE TRIGGER refuse BEFORE INSERT ON ${dialect.tableName} FOR EACH ROW EXECUTE FUNCTION "${schema}".refuse()`,
  );
});
afterAll(async () => {
  await pool.query(`DROP SCHEMA "${schema}" CASCADE`);
  await pool.end();
});

const count = async () =>
  Number((await pool.query(`SELECT count(*) AS n FROM ${dialect.tableName}`)).rows[0].n);

it('an add too large for one statement is all or nothing on a pool executor (autocommit opted in)', async () => {
  const outbox = createOutbox({ dialect, autocommit: true });
  const max = dialect.maxRowsPerInsert;
  const messages = Array.from({ length: max + 1 }, (_, i) => ({
    topic: i === max ? 'refused' : 'bulk',
    payload: i,
  }));
  await expect(outbox.add(pgPool(pool), messages)).rejects.toThrow('refused by trigger');
  expect(await count()).toBe(0);
  // Without the refused row, every message is written.
  const fine = messages.slice(0, max).concat({ topic: 'bulk', payload: -1 });
  expect(await outbox.add(pgPool(pool), fine)).toBe(max + 1);
  expect(await count()).toBe(max + 1);
});
