import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { SqlMessageStore, type TransactionalExecutor } from '@troutbox/core';
import { uniqueName } from '@troutbox/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drizzleExecutor } from './index.js';
import { databases, type TestDatabase } from './test/databases.js';
import { describeTable } from './test/describe-table.js';

const require = createRequire(import.meta.url);
const kitBin = join(dirname(require.resolve('drizzle-kit')), 'bin.cjs');
const pgCore = require.resolve('drizzle-orm/pg-core');
const indexModule = fileURLToPath(new URL('./index.ts', import.meta.url));

// drizzle-kit loads the schema file with its own TypeScript loader (tsx, as CommonJS). The
// source condition points it at the workspace's TypeScript sources, as in the other tests.
async function kitGenerate(dialect: string, schemaFile: string, out: string): Promise<string[]> {
  await promisify(execFile)(
    process.execPath,
    [kitBin, 'generate', `--dialect=${dialect}`, `--schema=${schemaFile}`, `--out=${out}`],
    { env: { ...process.env, NODE_OPTIONS: '--conditions=@troutbox/source' }, timeout: 60_000 },
  );
  const files = readdirSync(out).filter((f) => f.endsWith('.sql'));
  expect(files).toHaveLength(1);
  return readFileSync(join(out, files[0]!), 'utf8')
    .split('--> statement-breakpoint')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** What differs between the databases in this test. */
interface KitCase {
  readonly dialect: 'postgresql' | 'mysql';
  /** A schema file that re-exports the package's tables: the default one and `events` in `own`. */
  schemaFile(own: string): string;
  /** What the generated SQL must say. */
  expectText(text: string, own: string): void;
  /**
   * Run the statements so the default table lands in `into` and `events` in `own` (PostgreSQL:
   * the unqualified statements under a search_path; MySQL: all of them in database `into`).
   */
  apply(t: TestDatabase, statements: string[], into: string): Promise<void>;
}

const kitCases: Record<string, KitCase> = {
  PostgreSQL: {
    dialect: 'postgresql',
    schemaFile: (own) => `import { pgSchema } from ${JSON.stringify(pgCore)};
import { outboxTable } from ${JSON.stringify(indexModule)};
export const app = pgSchema(${JSON.stringify(own)});
export const appOutbox = outboxTable({ schema: app, table: 'events' });
export const outboxMessages = outboxTable();
`,
    expectText(text, own) {
      expect(text).toContain(`CREATE SCHEMA "${own}"`);
      expect(text).toContain(`CREATE TABLE "${own}"."events"`);
      expect(text).toContain('CREATE TABLE "outbox_messages"');
      expect(text).toContain(
        `CONSTRAINT "events_status_check" CHECK (status IN ('pending', 'sent', 'dead'))`,
      );
      expect(text).toMatch(
        /CREATE INDEX "outbox_messages_pending_idx" .*\("available_at","id"\) WHERE status = 'pending'/,
      );
    },
    async apply(t, statements, into) {
      // drizzle-kit creates the `own` schema; `into` is made here and the public table's
      // unqualified statements run under its search_path.
      await t.db.transaction(async (tx: any) => {
        const ex = drizzleExecutor(tx);
        await ex.query(`SET LOCAL search_path TO "${into}"`);
        for (const statement of statements) await ex.query(statement);
      });
    },
  },
  MariaDB: {
    dialect: 'mysql',
    // drizzle-kit 0.31 leaves tables of a mysqlSchema() out, so `events` is a second table in
    // the connection's database.
    schemaFile: () => `import { mysqlOutboxTable } from ${JSON.stringify(indexModule)};
export const appOutbox = mysqlOutboxTable({ table: 'events' });
export const outboxMessages = mysqlOutboxTable();
`,
    expectText(text) {
      expect(text).toContain('CREATE TABLE `events`');
      expect(text).toContain('CREATE TABLE `outbox_messages`');
      expect(text).toContain('`id` bigint AUTO_INCREMENT NOT NULL');
      expect(text).toContain('`topic` varchar(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL');
      expect(text).toContain('`payload` longblob NOT NULL');
      expect(text).toContain('`available_at` datetime(6) NOT NULL');
      expect(text).toContain("CONSTRAINT `events_status_check` CHECK(status IN ('pending', 'sent', 'dead'))");
      expect(text).toContain(
        'CREATE INDEX `outbox_messages_claim_idx` ON `outbox_messages` (`status`,`available_at`,`id`)',
      );
    },
    async apply(t, statements, into) {
      // One connection, switched to the test's database, runs the unqualified statements, and
      // goes back to the pool on its own database.
      await t.db.transaction(async (tx: any) => {
        const ex = drizzleExecutor(tx);
        const { rows } = await ex.query<{ db: string }>('SELECT DATABASE() AS db');
        await ex.query(`USE \`${into}\``);
        try {
          for (const statement of statements) await ex.query(statement);
        } finally {
          await ex.query(`USE \`${rows[0]!.db}\``);
        }
      });
    },
  },
};

describe.each(databases)(
  'drizzle-kit generate on a schema file that re-exports the table objects (%s)',
  (name, open) => {
    const kit = kitCases[name]!;
    let t: TestDatabase;
    let own: string; // the `events` table's namespace (PostgreSQL: a pgSchema() of its own, exported)
    let into: string; // where the default table's unqualified statements run
    let reference: string; // made by core's migrate()
    let dir: string;
    let statements: string[];
    let executor: TransactionalExecutor;

    beforeAll(async () => {
      t = await open();
      executor = drizzleExecutor(t.db);
      into = await t.namespace('kit_into');
      reference = await t.namespace('kit_ref');
      own = t.kind === 'postgres' ? uniqueName('kit_own') : into;
      dir = mkdtempSync(join(tmpdir(), 'troutbox-kit-'));
      writeFileSync(join(dir, 'schema.ts'), kit.schemaFile(own));
      statements = await kitGenerate(kit.dialect, join(dir, 'schema.ts'), join(dir, 'out'));
      await t.dialect(reference).migrate(executor);
      await t.dialect(reference, 'events').migrate(executor);
    });
    afterAll(async () => {
      if (t?.kind === 'postgres') await executor.query(`DROP SCHEMA IF EXISTS "${own}" CASCADE`);
      await t?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('writes the tables with their check constraint and indexes', () => {
      kit.expectText(statements.join('\n'), own);
    });

    it("applied, the SQL gives the tables core's migrate() creates, and core can use them", async () => {
      await kit.apply(t, statements, into);
      const ref = await describeTable(executor, t.kind, reference, 'events');
      expect(ref.columns).toHaveLength(13);
      const made = await describeTable(executor, t.kind, own, 'events');
      const madeDefault = await describeTable(executor, t.kind, into, 'outbox_messages');
      const refDefault = await describeTable(executor, t.kind, reference, 'outbox_messages');
      if (t.kind === 'mysql') {
        // drizzle-kit writes no table options: the table's default collation is the database's.
        // Every column carries utf8mb4_bin itself, so only columns added later would differ.
        for (const d of [made, madeDefault]) {
          expect(d.table).toEqual([{ engine: 'InnoDB', table_collation: expect.any(String) }]);
          d.table = ref.table;
        }
      }
      expect(made).toEqual(ref);
      expect(madeDefault).toEqual(refDefault);

      const store = new SqlMessageStore({ dialect: t.dialect(own, 'events'), db: executor });
      await executor.transaction((tx) => store.add(tx, { topic: 'kit', key: 'k', payload: { ok: true } }));
      const claimed = await store.transaction(async (tx) => {
        const batch = await store.claim(tx, 10);
        await store.markSent(
          tx,
          batch.map((m) => m.id),
        );
        return batch;
      });
      expect(claimed.map((m) => m.topic)).toEqual(['kit']);
    });
  },
);
