// Writes core's migrations as drizzle migrations folders (meta/_journal.json and one SQL file per
// migration). With no arguments it regenerates the two folders this package ships: `drizzle/`
// (PostgreSQL, public.outbox_messages) and `drizzle-mysql/` (MySQL / MariaDB, outbox_messages in
// the connection's database); a test fails when either is out of date.
//
//   pnpm generate:migrations                                   # both shipped folders
//   pnpm generate:migrations [--schema app] [--table outbox] --out ./drizzle-outbox
//   pnpm generate:migrations --dialect mysql [--database app] [--table outbox] --out ./drizzle-outbox
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  type DrizzleMigrations,
  drizzleMigrations,
  migrationsFolder,
  mysqlDrizzleMigrations,
  mysqlMigrationsFolder,
} from '../src/migrations.js';

const { values } = parseArgs({
  options: {
    dialect: { type: 'string' },
    schema: { type: 'string' },
    database: { type: 'string' },
    table: { type: 'string' },
    out: { type: 'string' },
  },
});

function write(out: string, { journal, files }: DrizzleMigrations): void {
  mkdirSync(join(out, 'meta'), { recursive: true });
  // Remove SQL files no longer generated, so the folder is exactly what the journal lists.
  for (const name of readdirSync(out)) {
    if (name.endsWith('.sql') && !(name.slice(0, -4) in files)) rmSync(join(out, name));
  }
  for (const [tag, text] of Object.entries(files)) writeFileSync(join(out, `${tag}.sql`), text);
  writeFileSync(join(out, 'meta', '_journal.json'), `${JSON.stringify(journal, null, 2)}\n`);
  console.log(`wrote ${Object.keys(files).length} ${journal.dialect} migration(s) to ${out}`);
}

const dialect = values.dialect ?? 'postgresql';
if (!['postgresql', 'mysql'].includes(dialect)) {
  console.error(`--dialect must be postgresql or mysql, got ${JSON.stringify(dialect)}`);
  process.exit(2);
}
if (values.out === undefined && values.dialect === undefined) {
  if (values.schema || values.database || values.table) {
    console.error('--out is required with --schema, --database or --table');
    process.exit(2);
  }
  write(migrationsFolder, drizzleMigrations());
  write(mysqlMigrationsFolder, mysqlDrizzleMigrations());
} else if (dialect === 'mysql') {
  write(
    values.out ?? mysqlMigrationsFolder,
    mysqlDrizzleMigrations({ database: values.database, table: values.table }),
  );
} else {
  write(values.out ?? migrationsFolder, drizzleMigrations({ schema: values.schema, table: values.table }));
}
