// Producer cost through @troutbox/prisma: a one-row business transaction (`tx.order.create`)
// plus one message via `tx.$outbox`, against the same transaction plus an equivalent row written
// with Prisma's own `create` on a model mapped to a copy of the outbox table. Both through one
// Prisma client on one pooled connection, interleaved, in the same run.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { quotePg } from '@troutbox/core';
import { migrationsPath, outbox, outboxModelPath } from '@troutbox/prisma';
import pg from 'pg';
import { median, schemaName } from '../util.js';

const generated = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'generated', 'prisma');

const SCHEMA = `generator client {
  provider        = "prisma-client"
  output          = "../client"
  previewFeatures = ["partialIndexes"]
}

datasource db {
  provider = "postgresql"
}

model Order {
  id       Int    @id
  customer String
  total    Int

  @@map("orders")
}

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
`;

/** Generate a client for the bench schema (the shipped outbox model plus the two above). */
async function loadClient(): Promise<any> {
  mkdirSync(join(generated, 'schema'), { recursive: true });
  writeFileSync(join(generated, 'schema', 'schema.prisma'), SCHEMA);
  copyFileSync(outboxModelPath, join(generated, 'schema', 'outbox.prisma'));
  const require = createRequire(import.meta.url);
  const cli = join(dirname(require.resolve('prisma/package.json')), 'build', 'index.js');
  execFileSync(process.execPath, [cli, 'generate', '--schema', join(generated, 'schema')], {
    stdio: 'pipe',
    env: {
      ...process.env,
      // `prisma generate` needs no schema engine; any existing file stops the CLI downloading one.
      PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? process.execPath,
      PRISMA_HIDE_UPDATE_MESSAGE: '1',
      CHECKPOINT_DISABLE: '1',
    },
  });
  return import(pathToFileURL(join(generated, 'client', 'client.ts')).href);
}

export async function bench(options: {
  databaseUrl: string;
  transactions: number;
  runs: number;
}): Promise<{ orm: string; withOutboxTxPerSec: number; withOrmInsertTxPerSec: number }> {
  const { PrismaClient } = await loadClient();
  const { PrismaPg } = await import('@prisma/adapter-pg');
  const schema = schemaName('prisma');
  const admin = new pg.Client({ connectionString: options.databaseUrl });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${quotePg(schema)}`);
  await admin.query(`SET search_path TO ${quotePg(schema)}`);
  // The shipped migrations, as `prisma migrate deploy` would apply them in this schema.
  for (const folder of readdirSync(migrationsPath).sort()) {
    await admin.query(readFileSync(join(migrationsPath, folder, 'migration.sql'), 'utf8'));
  }
  await admin.query('CREATE TABLE outbox_copy (LIKE outbox_messages INCLUDING ALL)');
  await admin.query(
    'CREATE TABLE orders (id integer PRIMARY KEY, customer text NOT NULL, total integer NOT NULL)',
  );
  // One connection: both variants run on the same backend, as one application request would.
  const base = new PrismaClient({
    adapter: new PrismaPg({ connectionString: options.databaseUrl, max: 1 }, { schema }),
  });
  const prisma = base.$extends(outbox({ schema }));
  try {
    let nextId = 1;
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
          await tx.outboxCopy.create({
            data: {
              topic: 'orders',
              key: String(id),
              payload: Buffer.from(JSON.stringify({ type: 'OrderPlaced', orderId: id, total: id % 977 })),
              contentType: 'application/json',
              headers: {},
            },
            select: { id: true },
          });
        }),
    };
    type Variant = keyof typeof variants;
    const names = Object.keys(variants) as Variant[];
    // Warm up the connection, the query compiler's caches and the JIT.
    for (const name of names) for (let i = 0; i < 300; i++) await variants[name](nextId++);
    const samples: Record<Variant, number[]> = { $outbox: [], create: [] };
    // Variants take turns every 50 transactions, so a change in the machine's load falls on both.
    const chunk = 50;
    for (let r = 0; r < options.runs; r++) {
      const elapsed: Record<Variant, number> = { $outbox: 0, create: 0 };
      for (let done = 0; done < options.transactions; done += chunk) {
        const n = Math.min(chunk, options.transactions - done);
        for (const name of names) {
          const started = performance.now();
          for (let i = 0; i < n; i++) await variants[name](nextId++);
          elapsed[name] += performance.now() - started;
        }
      }
      for (const name of names) samples[name].push((options.transactions * 1000) / elapsed[name]);
    }
    return {
      orm: 'prisma 7 + adapter-pg (tx.$outbox vs model.create)',
      withOutboxTxPerSec: median(samples.$outbox),
      withOrmInsertTxPerSec: median(samples.create),
    };
  } finally {
    await base.$disconnect();
    await admin.query(`DROP SCHEMA IF EXISTS ${quotePg(schema)} CASCADE`);
    await admin.end();
  }
}
