// Producer cost through @troutbox/prisma: a one-row business transaction (`tx.order.create`)
// plus one message via `tx.$outbox`, against the same transaction plus an equivalent row written
// with Prisma's own `create` on a model mapped to a copy of the outbox table. Both through one
// Prisma client on one pooled connection, interleaved, in the same run; once on PostgreSQL
// (adapter-pg) and once on MariaDB/MySQL (adapter-mariadb, MYSQL_URL).
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { quoteMysql, quotePg } from '@troutbox/core';
import {
  type DialectName,
  migrationsPaths,
  outbox,
  outboxModelPaths,
  type PrismaOutboxTableOptions,
} from '@troutbox/prisma';
import mysqlDriver from 'mysql2/promise';
import pg from 'pg';
import { type OrmOptions, type OrmRow, rowPerTarget } from '../orm-harness.js';
import { interleaved, schemaName } from '../util.js';

const mysqlUrl = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
const generated = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'generated');

/** A database to run on: its Prisma schema, its namespace (schema or database), its client. */
interface Target {
  name: DialectName;
  label: string;
  /** The bench's Prisma schema, next to the shipped outbox model for this database. */
  schema: string;
  /** Create `ns` with the shipped migrations applied, `orders` and `outbox_copy`; returns a drop function. */
  create(ns: string): Promise<() => Promise<void>>;
  /** A client on `ns` over one connection, and the outbox options naming it. */
  client(PrismaClient: any, ns: string): Promise<{ base: any; where: PrismaOutboxTableOptions }>;
  /** The outbox_copy row for Prisma's own `create`. */
  copyRow(id: number): Record<string, unknown>;
  version(): Promise<string>;
}

const ORDER_MODEL = `model Order {
  id       Int    @id
  customer String @db.VarChar(64)
  total    Int

  @@map("orders")
}`;

function targets(databaseUrl: string): Target[] {
  const payload = (id: number) =>
    Buffer.from(JSON.stringify({ type: 'OrderPlaced', orderId: id, total: id % 977 }));
  return [
    {
      name: 'postgres',
      label: 'PostgreSQL',
      schema: `generator client {
  provider        = "prisma-client"
  output          = "../client"
  previewFeatures = ["partialIndexes"]
}

datasource db {
  provider = "postgresql"
}

${ORDER_MODEL}

/// The same table as OutboxMessage (created with LIKE … INCLUDING ALL), for Prisma's own insert.
model OutboxCopy {
  id          BigInt   @id @default(autoincrement())
  topic       String
  key         String?
  payload     Bytes
  contentType String   @default("application/json") @map("content_type")
  headers     Json     @default("{}")
  status      String   @default("pending")
  attempts    Int      @default(0)
  availableAt DateTime @default(now()) @map("available_at") @db.Timestamptz(6)
  createdAt   DateTime @default(now()) @map("created_at") @db.Timestamptz(6)

  @@map("outbox_copy")
}
`,
      async create(schema) {
        const admin = new pg.Client({ connectionString: databaseUrl });
        await admin.connect();
        try {
          await admin.query(`CREATE SCHEMA ${quotePg(schema)}`);
          await admin.query(`SET search_path TO ${quotePg(schema)}`);
          // The shipped migrations, as `prisma migrate deploy` would apply them in this schema.
          for (const sql of migrationFiles('postgres')) await admin.query(sql);
          await admin.query('CREATE TABLE outbox_copy (LIKE outbox_messages INCLUDING ALL)');
          await admin.query(
            'CREATE TABLE orders (id integer PRIMARY KEY, customer varchar(64) NOT NULL, total integer NOT NULL)',
          );
        } finally {
          await admin.end();
        }
        return async () => {
          const c = new pg.Client({ connectionString: databaseUrl });
          await c.connect();
          await c.query(`DROP SCHEMA IF EXISTS ${quotePg(schema)} CASCADE`);
          await c.end();
        };
      },
      async client(PrismaClient, schema) {
        const { PrismaPg } = await import('@prisma/adapter-pg');
        const base = new PrismaClient({
          adapter: new PrismaPg({ connectionString: databaseUrl, max: 1 }, { schema }),
        });
        return { base, where: { schema } };
      },
      copyRow: (id) => ({
        topic: 'orders',
        key: String(id),
        payload: payload(id),
        contentType: 'application/json',
        headers: {},
      }),
      async version() {
        const c = new pg.Client({ connectionString: databaseUrl });
        await c.connect();
        const { rows } = await c.query<{ v: string }>("SELECT current_setting('server_version') AS v");
        await c.end();
        return rows[0]!.v.split(' ')[0]!;
      },
    },
    {
      name: 'mysql',
      label: 'MariaDB',
      schema: `generator client {
  provider = "prisma-client"
  output   = "../client"
}

datasource db {
  provider = "mysql"
}

${ORDER_MODEL}

/// The same table as OutboxMessage (created with CREATE TABLE … LIKE), for Prisma's own insert.
model OutboxCopy {
  id          BigInt   @id @default(autoincrement())
  topic       String   @db.VarChar(255)
  key         String?  @db.VarChar(255)
  payload     Bytes    @db.LongBlob
  contentType String   @default("application/json") @map("content_type") @db.VarChar(64)
  headers     String   @db.LongText
  status      String   @default("pending") @db.VarChar(16)
  attempts    Int      @default(0)
  availableAt DateTime @map("available_at") @db.DateTime(6)
  createdAt   DateTime @map("created_at") @db.DateTime(6)

  @@map("outbox_copy")
}
`,
      async create(database) {
        const admin = await mysqlDriver.createConnection({ uri: mysqlUrl, multipleStatements: true });
        try {
          await admin.query(`CREATE DATABASE ${quoteMysql(database)}`);
          await admin.query(`USE ${quoteMysql(database)}`);
          for (const sql of migrationFiles('mysql')) await admin.query(sql);
          await admin.query('CREATE TABLE outbox_copy LIKE outbox_messages');
          await admin.query(
            'CREATE TABLE orders (id INT PRIMARY KEY, customer VARCHAR(64) NOT NULL, total INT NOT NULL)',
          );
        } finally {
          await admin.end();
        }
        return async () => {
          const c = await mysqlDriver.createConnection({ uri: mysqlUrl });
          await c.query(`DROP DATABASE IF EXISTS ${quoteMysql(database)}`);
          await c.end();
        };
      },
      async client(PrismaClient, database) {
        const { PrismaMariaDb } = await import('@prisma/adapter-mariadb');
        const url = new URL(mysqlUrl);
        url.pathname = `/${database}`;
        url.searchParams.set('connectionLimit', '1');
        const base = new PrismaClient({ adapter: new PrismaMariaDb(url.toString()) });
        // The datasource URL names the database: the table options are the dialect's name alone.
        return { base, where: { dialect: 'mysql' } };
      },
      copyRow: (id) => {
        // UTC times, as troutbox writes them with UTC_TIMESTAMP(6).
        const now = new Date();
        return {
          topic: 'orders',
          key: String(id),
          payload: payload(id),
          contentType: 'application/json',
          headers: '{}',
          availableAt: now,
          createdAt: now,
        };
      },
      async version() {
        const c = await mysqlDriver.createConnection({ uri: mysqlUrl });
        const [rows] = await c.query("SELECT SUBSTRING_INDEX(VERSION(), '-', 1) AS v");
        await c.end();
        return (rows as { v: string }[])[0]!.v;
      },
    },
  ];
}

function migrationFiles(database: DialectName): string[] {
  const dir = migrationsPaths[database];
  return readdirSync(dir)
    .sort()
    .map((folder) => readFileSync(join(dir, folder, 'migration.sql'), 'utf8'));
}

/** Generate a client for the bench schema (the shipped outbox model plus the two models above). */
async function loadClient(target: Target): Promise<any> {
  const folder = join(generated, target.name === 'postgres' ? 'prisma' : 'prisma-mysql');
  mkdirSync(join(folder, 'schema'), { recursive: true });
  writeFileSync(join(folder, 'schema', 'schema.prisma'), target.schema);
  copyFileSync(outboxModelPaths[target.name], join(folder, 'schema', 'outbox.prisma'));
  const require = createRequire(import.meta.url);
  const cli = join(dirname(require.resolve('prisma/package.json')), 'build', 'index.js');
  execFileSync(process.execPath, [cli, 'generate', '--schema', join(folder, 'schema')], {
    stdio: 'pipe',
    env: {
      ...process.env,
      // `prisma generate` needs no schema engine; any existing file stops the CLI downloading one.
      PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? process.execPath,
      PRISMA_HIDE_UPDATE_MESSAGE: '1',
      CHECKPOINT_DISABLE: '1',
    },
  });
  return (await import(pathToFileURL(join(folder, 'client', 'client.ts')).href)).PrismaClient;
}

/** One row per database: PostgreSQL (`databaseUrl`) and MariaDB/MySQL (`MYSQL_URL`). */
export function bench(options: OrmOptions): Promise<OrmRow[]> {
  return rowPerTarget(
    targets(options.databaseUrl),
    (target) => `prisma on ${target.label}`,
    (target) => benchOn(target, options),
  );
}

async function benchOn(target: Target, options: OrmOptions): Promise<OrmRow> {
  const PrismaClient = await loadClient(target);
  const ns = schemaName('prisma');
  const drop = await target.create(ns);
  // One connection: both variants run on the same session, as one application request would.
  const { base, where } = await target.client(PrismaClient, ns);
  const prisma = base.$extends(outbox(where));
  try {
    const variants = {
      $outbox: (id: number) =>
        prisma.$transaction(async (tx: any) => {
          await tx.order.create({ data: { id, customer: 'c-42', total: id % 977 }, select: { id: true } });
          await tx.$outbox({
            topic: 'orders',
            key: String(id),
            payload: { type: 'OrderPlaced', orderId: id, total: id % 977 },
          });
        }),
      create: (id: number) =>
        prisma.$transaction(async (tx: any) => {
          await tx.order.create({ data: { id, customer: 'c-42', total: id % 977 }, select: { id: true } });
          await tx.outboxCopy.create({ data: target.copyRow(id), select: { id: true } });
        }),
    };
    const txPerSec = await interleaved(variants, options);
    const adapter = target.name === 'postgres' ? 'adapter-pg' : 'adapter-mariadb';
    return {
      orm: `prisma 7 + ${adapter} on ${target.label} ${await target.version()} (tx.$outbox vs model.create)`,
      withOutboxTxPerSec: txPerSec.$outbox,
      withOrmInsertTxPerSec: txPerSec.create,
    };
  } finally {
    await base.$disconnect();
    await drop();
  }
}
