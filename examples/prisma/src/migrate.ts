// Applies the migration.sql files of the database's migrations folder in order, the way
// `prisma migrate deploy` would: on PostgreSQL in the example's schema, on MySQL in the URL's
// database (created if missing). The example does it itself because `prisma migrate` needs the
// schema engine binary, which cannot be downloaded offline; every statement is idempotent.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { quoteMysql, quotePg } from '@troutbox/core';
import mysqlDriver from 'mysql2/promise';
import pg from 'pg';
import { databaseOf, prismaFolders, root } from './database.js';

function migrationFiles(folder: string): string[] {
  const dir = join(root, folder);
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort()
    .map((name) => readFileSync(join(dir, name, 'migration.sql'), 'utf8'));
}

/** `schema` is the PostgreSQL schema of the example's tables; on MySQL the URL names the database. */
export async function migrate(databaseUrl: string, schema: string): Promise<void> {
  const database = databaseOf(databaseUrl);
  const files = migrationFiles(prismaFolders[database].migrations);
  if (database === 'mysql') {
    const url = new URL(databaseUrl);
    const name = decodeURIComponent(url.pathname.slice(1));
    url.pathname = '/';
    const conn = await mysqlDriver.createConnection({ uri: url.toString(), multipleStatements: true });
    try {
      await conn.query(`CREATE DATABASE IF NOT EXISTS ${quoteMysql(name)}`);
      await conn.query(`USE ${quoteMysql(name)}`);
      for (const sql of files) await conn.query(sql);
    } finally {
      await conn.end();
    }
    return;
  }
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${quotePg(schema)}`);
    await client.query(`SET search_path TO ${quotePg(schema)}`);
    for (const sql of files) await client.query(sql);
  } finally {
    await client.end();
  }
}
