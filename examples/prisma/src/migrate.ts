// Applies prisma/migrations/*/migration.sql in order, in the example's schema, the way
// `prisma migrate deploy` would. (The example does it itself because `prisma migrate` needs the
// schema engine binary, which cannot be downloaded offline; every statement is idempotent.)
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { quotePg } from '@troutbox/core';
import pg from 'pg';

const migrations = join(dirname(fileURLToPath(import.meta.url)), '..', 'prisma', 'migrations');

export async function migrate(databaseUrl: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${quotePg(schema)}`);
    await client.query(`SET search_path TO ${quotePg(schema)}`);
    for (const folder of readdirSync(migrations).sort()) {
      await client.query(readFileSync(join(migrations, folder, 'migration.sql'), 'utf8'));
    }
  } finally {
    await client.end();
  }
}
