import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { postgres } from '@troutbox/core';
import { uniqueName } from '@troutbox/core/testing';
import { sql } from 'drizzle-orm';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import { drizzle } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drizzleExecutor, drizzleMigrations, migrationsFolder, outboxMigrations } from './index.js';
import { databaseUrl } from './test/databases.js';
import { describeTable } from './test/describe-table.js';

describe('the shipped drizzle migrations folder', () => {
  it('is exactly what scripts/generate-migrations.ts generates from core now', () => {
    const { journal, files } = drizzleMigrations();
    const onDisk = JSON.parse(readFileSync(join(migrationsFolder, 'meta', '_journal.json'), 'utf8'));
    expect(onDisk, 'run `pnpm --filter @troutbox/drizzle generate:migrations`').toEqual(journal);
    const sqlFiles = readdirSync(migrationsFolder).filter((f) => f.endsWith('.sql'));
    expect(sqlFiles.sort()).toEqual(
      Object.keys(files)
        .map((tag) => `${tag}.sql`)
        .sort(),
    );
    for (const [tag, text] of Object.entries(files)) {
      expect(readFileSync(join(migrationsFolder, `${tag}.sql`), 'utf8'), `${tag}.sql`).toBe(text);
    }
    expect(journal.entries[0]!.tag).toBe('0000_troutbox_outbox');
  });

  it("is read by drizzle's own reader: one migration per core migration, split at the breakpoints", () => {
    const read = readMigrationFiles(outboxMigrations);
    const core = postgres().migrations();
    expect(read).toHaveLength(core.length);
    // The advisory lock first, then core's statements.
    expect(read[0]!.sql.map((s) => s.trim())).toHaveLength(core[0]!.up.length + 1);
    expect(read[0]!.sql[0]).toMatch(/pg_advisory_xact_lock/);
    const whens = read.map((m) => m.folderMillis);
    expect([...whens].sort((a, b) => a - b)).toEqual(whens);
  });
});

// drizzle's migrate() writes public.outbox_messages and its own bookkeeping, so this runs in a
// database of its own, dropped afterwards.
describe("drizzle's migrate() with the shipped folder", () => {
  const database = uniqueName('drz_mig');
  const refSchema = 'core_ref';
  let admin: pg.Client;
  let pool: pg.Pool;

  beforeAll(async () => {
    admin = new pg.Client({ connectionString: databaseUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE "${database}"`);
    const url = new URL(databaseUrl);
    url.pathname = `/${database}`;
    pool = new pg.Pool({ connectionString: url.toString(), max: 4 });
  });
  afterAll(async () => {
    await pool?.end();
    await admin?.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    await admin?.end();
  });

  it("gives the table core's migrate() creates: same columns, constraints and indexes", async () => {
    const db = drizzle(pool);
    await migrate(db, outboxMigrations);
    // Again: nothing left to apply, and nothing fails.
    await migrate(db, outboxMigrations);
    const applied = await db.execute<{ n: number }>(
      sql`SELECT count(*)::int AS n FROM drizzle.__troutbox_migrations`,
    );
    expect(applied.rows[0]!.n).toBe(postgres().migrations().length);

    const executor = drizzleExecutor(db);
    await postgres({ schema: refSchema }).migrate(executor);
    const shipped = await describeTable(executor, 'public', 'outbox_messages');
    const reference = await describeTable(executor, refSchema, 'outbox_messages');
    expect(shipped.columns).toHaveLength(12);
    expect(shipped.indexes.map((i) => i.indexname)).toEqual([
      'outbox_messages_dead_idx',
      'outbox_messages_pending_idx',
      'outbox_messages_pkey',
      'outbox_messages_sent_idx',
    ]);
    expect(shipped).toEqual(reference);

    // core's own migrate() runs over the table drizzle made without error.
    const again = await postgres().migrate(executor);
    expect(again.version).toBe(postgres().migrations().length);
  });

  it('a folder generated for another schema and table applies there', async () => {
    const schema = uniqueName('drz_gen');
    const dir = mkdtempSync(join(tmpdir(), 'troutbox-drizzle-'));
    try {
      const { journal, files } = drizzleMigrations({ schema, table: 'events' });
      for (const [tag, text] of Object.entries(files)) writeFileSync(join(dir, `${tag}.sql`), text);
      mkdirSync(join(dir, 'meta'));
      writeFileSync(join(dir, 'meta', '_journal.json'), JSON.stringify(journal));
      const db = drizzle(pool);
      await migrate(db, { migrationsFolder: dir, migrationsTable: `${schema}_migrations` });
      const executor = drizzleExecutor(db);
      await postgres({ schema: refSchema, table: 'events' }).migrate(executor);
      expect(await describeTable(executor, schema, 'events')).toEqual(
        await describeTable(executor, refSchema, 'events'),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
