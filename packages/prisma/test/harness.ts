import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PrismaPg } from '@prisma/adapter-pg';
import { quotePg } from '@troutbox/core';
import { uniqueName } from '@troutbox/core/testing';
import pg from 'pg';
import { outbox, type PrismaOutboxOptions } from '../src/index.js';
import { PrismaClient } from './generated/client/client.js';

export const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The shipped migration.sql files, in the order Prisma applies them. */
export function shippedMigrations(): { folder: string; sql: string }[] {
  const dir = join(packageRoot, 'migrations');
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort()
    .map((folder) => ({ folder, sql: readFileSync(join(dir, folder, 'migration.sql'), 'utf8') }));
}

// What `prisma migrate` would create for the test schema's Order model.
const ORDERS_DDL = `CREATE TABLE "orders" (
  "id" SERIAL PRIMARY KEY,
  "customer" TEXT NOT NULL,
  "total" INTEGER NOT NULL,
  "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP
)`;

/**
 * A PostgreSQL schema of its own with the outbox table (from the shipped migration.sql, applied
 * as `prisma migrate deploy` would: with the schema on the search_path) and the orders table,
 * a Prisma client on it, and a plain pg pool to look from another connection.
 */
export async function createTestDatabase(options: Omit<PrismaOutboxOptions, 'schema'> = {}) {
  const schema = uniqueName('prisma');
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  const setup = await pool.connect();
  try {
    await setup.query(`CREATE SCHEMA ${quotePg(schema)}`);
    await setup.query(`SET search_path TO ${quotePg(schema)}`);
    for (const { sql } of shippedMigrations()) await setup.query(sql);
    await setup.query(ORDERS_DDL);
  } finally {
    setup.release(true);
  }
  const base = new PrismaClient({
    adapter: new PrismaPg({ connectionString: databaseUrl, max: 6 }, { schema }),
  });
  const prisma = base.$extends(outbox({ ...options, schema }));
  return {
    schema,
    base,
    prisma,
    /** A connection outside Prisma, to see what other sessions see. */
    pool,
    async outboxCount(topic: string): Promise<number> {
      const { rows } = await pool.query(
        `SELECT count(*)::int AS n FROM ${quotePg(schema)}.outbox_messages WHERE topic = $1`,
        [topic],
      );
      return rows[0].n;
    },
    async close(): Promise<void> {
      await base.$disconnect();
      await pool.query(`DROP SCHEMA IF EXISTS ${quotePg(schema)} CASCADE`);
      await pool.end();
    },
  };
}

export type TestDatabase = Awaited<ReturnType<typeof createTestDatabase>>;
