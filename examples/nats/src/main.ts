import { PGlite } from '@electric-sql/pglite';
import { pglite, pgPool } from '@troutbox/core';
import pg from 'pg';
import { runNatsExample } from './orders.js';

const servers = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const url = process.env.DATABASE_URL;
const pool = url ? new pg.Pool({ connectionString: url }) : undefined;
const embedded = url ? undefined : await PGlite.create();
const db = pool ? pgPool(pool) : pglite(embedded!);

console.log(`troutbox → NATS JetStream at ${servers}, on ${url ? new URL(url).host : 'embedded PGlite'}\n`);
const { committed, seen } = await runNatsExample({
  db,
  servers,
  stream: 'TROUTBOX_EXAMPLE',
  subjectPrefix: 'troutbox.example.',
  schema: 'troutbox_nats_example',
  cleanup: true,
  log: console.log,
});
console.log(`\n${committed.length} orders committed, ${seen.length} messages read back from the stream`);
await pool?.end();
await embedded?.close();
process.exitCode = seen.length === committed.length ? 0 : 1;
