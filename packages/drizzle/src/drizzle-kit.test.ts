import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { pgPool, postgres, SqlMessageStore } from '@troutbox/core';
import { uniqueName } from '@troutbox/core/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseUrl } from './test/databases.js';
import { describeTable } from './test/describe-table.js';

const require = createRequire(import.meta.url);
const kitBin = join(dirname(require.resolve('drizzle-kit')), 'bin.cjs');
const pgCore = require.resolve('drizzle-orm/pg-core');
const schemaModule = fileURLToPath(new URL('./schema.ts', import.meta.url));

// drizzle-kit loads the schema file with its own TypeScript loader (tsx, as CommonJS). The
// source condition points it at the workspace's TypeScript sources, as in the other tests.
async function kitGenerate(schemaFile: string, out: string): Promise<string[]> {
  await promisify(execFile)(
    process.execPath,
    [kitBin, 'generate', '--dialect=postgresql', `--schema=${schemaFile}`, `--out=${out}`],
    { env: { ...process.env, NODE_OPTIONS: '--conditions=@troutbox/source' }, timeout: 60_000 },
  );
  const files = readdirSync(out).filter((f) => f.endsWith('.sql'));
  expect(files).toHaveLength(1);
  return readFileSync(join(out, files[0]!), 'utf8')
    .split('--> statement-breakpoint')
    .map((s) => s.trim())
    .filter(Boolean);
}

describe('drizzle-kit generate on a schema file that re-exports outboxTable', () => {
  const own = uniqueName('kit_own'); // a pgSchema() of its own, exported
  const viaPath = uniqueName('kit_path'); // the default public table, applied under search_path
  const reference = uniqueName('kit_ref'); // made by core's migrate()
  let pool: pg.Pool;
  let dir: string;
  let statements: string[];

  beforeAll(async () => {
    pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
    dir = mkdtempSync(join(tmpdir(), 'troutbox-kit-'));
    writeFileSync(
      join(dir, 'schema.ts'),
      `import { pgSchema } from ${JSON.stringify(pgCore)};
import { outboxTable } from ${JSON.stringify(schemaModule)};
export const app = pgSchema(${JSON.stringify(own)});
export const appOutbox = outboxTable({ schema: app, table: 'events' });
export const outboxMessages = outboxTable();
`,
    );
    statements = await kitGenerate(join(dir, 'schema.ts'), join(dir, 'out'));
    await postgres({ schema: reference }).migrate(pgPool(pool));
    await postgres({ schema: reference, table: 'events' }).migrate(pgPool(pool));
  });
  afterAll(async () => {
    for (const s of [own, viaPath, reference]) await pool?.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
    await pool?.end();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('writes CREATE SCHEMA, the tables with their check constraint, and the partial indexes', () => {
    const text = statements.join('\n');
    expect(text).toContain(`CREATE SCHEMA "${own}"`);
    expect(text).toContain(`CREATE TABLE "${own}"."events"`);
    expect(text).toContain('CREATE TABLE "outbox_messages"');
    expect(text).toContain(`CONSTRAINT "events_status_check" CHECK (status IN ('pending', 'sent', 'dead'))`);
    expect(text).toMatch(
      /CREATE INDEX "outbox_messages_pending_idx" .*\("available_at","id"\) WHERE status = 'pending'/,
    );
  });

  it("applied, the SQL gives the tables core's migrate() creates, and core can use them", async () => {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`CREATE SCHEMA "${viaPath}"`);
      // The public table's statements are unqualified: run them inside a schema of the test's.
      await client.query(`SET LOCAL search_path TO "${viaPath}"`);
      for (const statement of statements) await client.query(statement);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    } finally {
      client.release();
    }
    const db = pgPool(pool);
    const ref = await describeTable(db, reference, 'events');
    expect(ref.columns).toHaveLength(12);
    expect(await describeTable(db, own, 'events')).toEqual(ref);
    expect(await describeTable(db, viaPath, 'outbox_messages')).toEqual(
      await describeTable(db, reference, 'outbox_messages'),
    );

    const store = new SqlMessageStore({ dialect: postgres({ schema: own, table: 'events' }), db });
    await db.transaction((tx) => store.add(tx, { topic: 'kit', key: 'k', payload: { ok: true } }));
    const claimed = await db.transaction(async (tx) => {
      const batch = await store.claim(tx, 10);
      await store.markSent(
        tx,
        batch.map((m) => m.id),
      );
      return batch;
    });
    expect(claimed.map((m) => m.topic)).toEqual(['kit']);
  });
});
