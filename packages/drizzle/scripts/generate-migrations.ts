// Writes core's PostgreSQL migrations as a drizzle migrations folder (meta/_journal.json and
// one SQL file per migration). With no arguments it regenerates the folder this package ships
// (`drizzle/`, for public.outbox_messages); a test fails when that folder is out of date.
//
//   pnpm generate:migrations [--schema app] [--table outbox] [--out ./drizzle-outbox]
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { drizzleMigrations, migrationsFolder } from '../src/migrations.js';

const { values } = parseArgs({
  options: { schema: { type: 'string' }, table: { type: 'string' }, out: { type: 'string' } },
});
const out = values.out ?? migrationsFolder;
const { journal, files } = drizzleMigrations({ schema: values.schema, table: values.table });

mkdirSync(join(out, 'meta'), { recursive: true });
// Remove SQL files no longer generated, so the folder is exactly what the journal lists.
for (const name of readdirSync(out)) {
  if (name.endsWith('.sql') && !(name.slice(0, -4) in files)) rmSync(join(out, name));
}
for (const [tag, text] of Object.entries(files)) writeFileSync(join(out, `${tag}.sql`), text);
writeFileSync(join(out, 'meta', '_journal.json'), `${JSON.stringify(journal, null, 2)}\n`);
console.log(`wrote ${Object.keys(files).length} migration(s) to ${out}`);
