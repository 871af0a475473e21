import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Dialect, mysql, postgres, quoteMysql, quotePg } from '@troutbox/core';
import { uniqueName } from '@troutbox/core/testing';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import { drizzle as drizzleMysql2 } from 'drizzle-orm/mysql2';
import { migrate as migrateMysql2 } from 'drizzle-orm/mysql2/migrator';
import { drizzle as drizzleNodePg } from 'drizzle-orm/node-postgres';
import { migrate as migrateNodePg } from 'drizzle-orm/node-postgres/migrator';
import mysqlDriver from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type DrizzleMigrations,
  drizzleExecutor,
  drizzleMigrations,
  migrationsFolder,
  mysqlDrizzleMigrations,
  mysqlMigrationsFolder,
  mysqlOutboxMigrations,
  outboxMigrations,
} from './index.js';
import { databaseUrl, type Kind, mysqlUrl } from './test/databases.js';
import { describeTable } from './test/describe-table.js';

/** A database on the server of the test's own, with drizzle and its migrate() on it. */
interface ServerDatabase {
  readonly db: any;
  /** drizzle's migrate() for this database. */
  migrate(config: { migrationsFolder: string; migrationsTable: string }): Promise<void>;
  /** Migrations applied, as drizzle's bookkeeping table counts them. */
  applied(table: string): Promise<number>;
  /** The namespace an unqualified table lands in. */
  readonly home: string;
  close(): Promise<void>;
}

interface Case {
  readonly name: string;
  readonly kind: Kind;
  readonly shipped: { readonly migrationsFolder: string; readonly migrationsTable: string };
  generate(namespace?: string, table?: string): DrizzleMigrations;
  dialect(namespace?: string, table?: string): Dialect;
  readonly statementPattern: RegExp;
  readonly indexes: string[];
  /** A new database, dropped with everything in it (schemas or databases it names) by `close`. */
  open(extra: string[]): Promise<ServerDatabase>;
}

const cases: Case[] = [
  {
    name: 'PostgreSQL',
    kind: 'postgres',
    shipped: outboxMigrations,
    generate: (schema, table) => drizzleMigrations({ schema, table }),
    dialect: (schema, table) => postgres({ schema, table }),
    statementPattern: /pg_advisory_xact_lock/,
    indexes: [
      'outbox_messages_dead_idx',
      'outbox_messages_key_seq_idx',
      'outbox_messages_pending_idx',
      'outbox_messages_pkey',
      'outbox_messages_sent_idx',
      'outbox_messages_unkeyed_idx',
    ],
    async open() {
      // drizzle's migrate() writes public.outbox_messages and its own `drizzle` schema, so this
      // runs in a database of its own.
      const database = uniqueName('drz_mig');
      const admin = new pg.Client({ connectionString: databaseUrl });
      await admin.connect();
      await admin.query(`CREATE DATABASE ${quotePg(database)}`);
      const url = new URL(databaseUrl);
      url.pathname = `/${database}`;
      const pool = new pg.Pool({ connectionString: url.toString(), max: 4 });
      const db = drizzleNodePg(pool);
      return {
        db,
        home: 'public',
        migrate: (config) => migrateNodePg(db, config),
        async applied(table) {
          const { rows } = await pool.query(`SELECT count(*)::int AS n FROM drizzle.${quotePg(table)}`);
          return rows[0].n;
        },
        async close() {
          await pool.end();
          await admin.query(`DROP DATABASE IF EXISTS ${quotePg(database)} WITH (FORCE)`);
          await admin.end();
        },
      };
    },
  },
  {
    name: 'MariaDB',
    kind: 'mysql',
    shipped: mysqlOutboxMigrations,
    generate: (database, table) => mysqlDrizzleMigrations({ database, table }),
    dialect: (database, table) => mysql({ database, table }),
    statementPattern: /GET_LOCK/,
    indexes: [
      'outbox_messages_claim_idx',
      'outbox_messages_key_seq_idx',
      'outbox_messages_sent_idx',
      'PRIMARY',
    ],
    async open(extra) {
      const database = uniqueName('drz_mig');
      const admin = await mysqlDriver.createConnection({ uri: mysqlUrl });
      await admin.query(`CREATE DATABASE ${quoteMysql(database)}`);
      const url = new URL(mysqlUrl);
      url.pathname = `/${database}`;
      const pool = mysqlDriver.createPool({ uri: url.toString(), connectionLimit: 4 });
      const db = drizzleMysql2(pool);
      return {
        db,
        home: database,
        migrate: (config) => migrateMysql2(db, config),
        async applied(table) {
          const [rows] = await pool.query<any[]>(`SELECT count(*) AS n FROM ${quoteMysql(table)}`);
          return Number(rows[0].n);
        },
        async close() {
          await pool.end();
          for (const name of [database, ...extra])
            await admin.query(`DROP DATABASE IF EXISTS ${quoteMysql(name)}`);
          await admin.end();
        },
      };
    },
  },
];

const shippedFolders = { PostgreSQL: migrationsFolder, MariaDB: mysqlMigrationsFolder };

describe.each(cases)('the shipped drizzle migrations folder ($name)', (c) => {
  it('is exactly what scripts/generate-migrations.ts generates from core now', () => {
    const folder = shippedFolders[c.name as keyof typeof shippedFolders];
    expect(c.shipped.migrationsFolder).toBe(folder);
    const { journal, files } = c.generate();
    const onDisk = JSON.parse(readFileSync(join(folder, 'meta', '_journal.json'), 'utf8'));
    expect(onDisk, 'run `pnpm --filter @troutbox/drizzle generate:migrations`').toEqual(journal);
    const sqlFiles = readdirSync(folder).filter((f) => f.endsWith('.sql'));
    expect(sqlFiles.sort()).toEqual(
      Object.keys(files)
        .map((tag) => `${tag}.sql`)
        .sort(),
    );
    for (const [tag, text] of Object.entries(files)) {
      expect(readFileSync(join(folder, `${tag}.sql`), 'utf8'), `${tag}.sql`).toBe(text);
    }
    expect(journal.entries[0]!.tag).toBe('0000_troutbox_outbox');
    expect(journal.dialect).toBe(c.kind === 'postgres' ? 'postgresql' : 'mysql');
  });

  it("is read by drizzle's own reader: one migration per core migration, split at the breakpoints", () => {
    const read = readMigrationFiles(c.shipped);
    const core = c.dialect().migrations();
    expect(read).toHaveLength(core.length);
    // The migration lock first, then core's statements (and on MySQL the lock's release).
    expect(read[0]!.sql[0]).toMatch(c.statementPattern);
    expect(read[0]!.sql).toHaveLength(core[0]!.up.length + (c.kind === 'postgres' ? 1 : 2));
    const whens = read.map((m) => m.folderMillis);
    expect([...whens].sort((a, b) => a - b)).toEqual(whens);
  });
});

describe.each(cases)("drizzle's migrate() with the shipped folder ($name)", (c) => {
  const reference = uniqueName('core_ref');
  const generated = uniqueName('drz_gen');
  let server: ServerDatabase;

  beforeAll(async () => {
    server = await c.open([reference, generated]);
  });
  afterAll(async () => {
    await server?.close();
  });

  it("gives the table core's migrate() creates: same columns, constraints and indexes", async () => {
    await server.migrate(c.shipped);
    // Again: nothing left to apply, and nothing fails.
    await server.migrate(c.shipped);
    expect(await server.applied(c.shipped.migrationsTable)).toBe(c.dialect().migrations().length);

    const executor = drizzleExecutor(server.db);
    await c.dialect(reference).migrate(executor);
    const shipped = await describeTable(executor, c.kind, server.home, 'outbox_messages');
    const ref = await describeTable(executor, c.kind, reference, 'outbox_messages');
    expect(shipped.columns).toHaveLength(13);
    const indexNames = (shipped.indexes as { indexname?: string; index_name?: string }[]).map(
      (i) => i.indexname ?? i.index_name,
    );
    expect([...new Set(indexNames)]).toEqual(c.indexes);
    expect(shipped).toEqual(ref);

    // core's own migrate() runs over the table drizzle made without error.
    const again = await c.dialect().migrate(executor);
    expect(again.version).toBe(c.dialect().migrations().length);
  });

  // Two drizzle migrate() calls racing are drizzle's own matter: it creates its bookkeeping table
  // before any migration runs, without a lock (on PostgreSQL the loser fails on pg_type).
  it("runs at the same time as core's migrate() in other sessions: the lock makes them take turns", async () => {
    const folder = mkdtempSync(join(tmpdir(), 'troutbox-drizzle-'));
    try {
      const { journal, files } = c.generate(undefined, 'raced');
      for (const [tag, text] of Object.entries(files)) writeFileSync(join(folder, `${tag}.sql`), text);
      mkdirSync(join(folder, 'meta'));
      writeFileSync(join(folder, 'meta', '_journal.json'), JSON.stringify(journal));
      const config = { migrationsFolder: folder, migrationsTable: '__raced_migrations' };
      const executor = drizzleExecutor(server.db);
      await Promise.all([
        c.dialect(undefined, 'raced').migrate(executor),
        server.migrate(config),
        c.dialect(undefined, 'raced').migrate(executor),
      ]);
      await c.dialect(reference, 'raced').migrate(executor);
      expect(await describeTable(executor, c.kind, server.home, 'raced')).toEqual(
        await describeTable(executor, c.kind, reference, 'raced'),
      );
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it('a folder generated for another namespace and table applies there', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'troutbox-drizzle-'));
    try {
      const { journal, files } = c.generate(generated, 'events');
      for (const [tag, text] of Object.entries(files)) writeFileSync(join(dir, `${tag}.sql`), text);
      mkdirSync(join(dir, 'meta'));
      writeFileSync(join(dir, 'meta', '_journal.json'), JSON.stringify(journal));
      await server.migrate({ migrationsFolder: dir, migrationsTable: `${generated}_migrations` });
      const executor = drizzleExecutor(server.db);
      await c.dialect(reference, 'events').migrate(executor);
      expect(await describeTable(executor, c.kind, generated, 'events')).toEqual(
        await describeTable(executor, c.kind, reference, 'events'),
      );
      // Nothing was left holding the migration lock.
      if (c.kind === 'mysql') {
        const { rows } = await executor.query<{ free: number }>('SELECT IS_FREE_LOCK(?) AS free', [
          `troutbox:migrate:${generated}.events`,
        ]);
        expect(Number(rows[0]!.free)).toBe(1);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
