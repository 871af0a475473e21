import { PGlite } from '@electric-sql/pglite';
import { pglite, pgPool } from '@troutbox/core';
import pg from 'pg';
import { runDemo } from './demo.js';

const url = process.env.DATABASE_URL;
let close: () => Promise<void>;
let summary: Awaited<ReturnType<typeof runDemo>>;
if (url) {
  const pool = new pg.Pool({ connectionString: url, max: 6 });
  close = () => pool.end();
  summary = await runDemo({
    db: pgPool(pool),
    database: `PostgreSQL (${new URL(url).host})`,
    log: console.log,
  });
} else {
  const db = await PGlite.create();
  close = () => db.close();
  summary = await runDemo({ db: pglite(db), database: 'embedded PGlite', log: console.log });
}
await close();

const rows: [string, string | number][] = [
  ['database', summary.database],
  ['committed', summary.committed],
  ['rolled back', summary.rolledBack],
  ['delivered', summary.delivered],
  ['duplicates', summary.duplicates],
  ['retried', summary.retried],
  ['dead (poison)', summary.dead],
  ['rolled back but delivered', summary.rolledBackButDelivered],
  ['committed but lost', summary.committedButLost],
  ['seconds', summary.seconds.toFixed(2)],
];
console.log('\ntroutbox demo — every trout is delivered\n');
for (const [k, v] of rows) console.log(`  ${k.padEnd(28)}${String(v).padStart(22)}`);
console.log(
  summary.ok
    ? '\n  ✔ every committed order delivered; no rolled-back order sent\n'
    : '\n  ✘ a guarantee failed\n',
);
process.exitCode = summary.ok ? 0 : 1;
