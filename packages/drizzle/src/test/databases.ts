// The three PostgreSQL drivers the tests run on, each as a drizzle database, with a way to
// close it. Every test makes its own schema (uniqueName) and drops it afterwards.
import { PGlite } from '@electric-sql/pglite';
import { drizzle as drizzleNodePg } from 'drizzle-orm/node-postgres';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { drizzle as drizzlePostgresJs } from 'drizzle-orm/postgres-js';
import pg from 'pg';
import postgresJs from 'postgres';
import type { DrizzlePgDatabase } from '../index.js';

export const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestDatabase {
  readonly driver: 'node-postgres' | 'postgres-js' | 'PGlite';
  readonly db: DrizzlePgDatabase;
  /** False for PGlite: one connection, so transactions cannot overlap. */
  readonly concurrent: boolean;
  close(): Promise<void>;
}

export function nodePostgres(): TestDatabase {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  return { driver: 'node-postgres', db: drizzleNodePg(pool), concurrent: true, close: () => pool.end() };
}

export function postgresJsDatabase(): TestDatabase {
  const client = postgresJs(databaseUrl, { max: 4, onnotice: () => {} });
  return {
    driver: 'postgres-js',
    db: drizzlePostgresJs(client),
    concurrent: true,
    close: () => client.end({ timeout: 5 }),
  };
}

export async function pgliteDatabase(): Promise<TestDatabase> {
  const client = await PGlite.create();
  return { driver: 'PGlite', db: drizzlePglite(client), concurrent: false, close: () => client.close() };
}

type Open = () => TestDatabase | Promise<TestDatabase>;

export const drivers: readonly [string, Open][] = [
  ['node-postgres', nodePostgres],
  ['postgres-js', postgresJsDatabase],
  ['PGlite', pgliteDatabase],
];

/** The drivers with a pool, where two transactions can be open at once. */
export const concurrentDrivers: readonly [string, Open][] = drivers.filter(([name]) => name !== 'PGlite');
