// The README's producer as a process: `DATABASE_URL=postgres://… OUTBOX_SCHEMA=shop pnpm producer`.
// Expects "<schema>".orders (id integer PRIMARY KEY, total integer) and a migrated outbox table
// in the schema. Prints one line per order (`committed 12`, `declined 14`, `failed 15 57P01 …`)
// and stops on SIGTERM or SIGINT after the order in progress.
import pg from 'pg';
import { produce } from './producer.js';

const url = process.env.DATABASE_URL;
if (!url) throw new Error('set DATABASE_URL');
const schema = process.env.OUTBOX_SCHEMA ?? 'public';
const pool = new pg.Pool({ connectionString: url, max: 2 });
const stop = new AbortController();
process.once('SIGTERM', () => stop.abort());
process.once('SIGINT', () => stop.abort());

await produce({
  pool,
  schema,
  signal: stop.signal,
  onOrder(outcome) {
    const detail =
      outcome.status === 'failed'
        ? ` ${(outcome.error as { code?: string }).code ?? '-'} ${String(outcome.error).replaceAll('\n', ' ')}`
        : '';
    process.stdout.write(`${outcome.status} ${outcome.id}${detail}\n`);
  },
});
await pool.end();
process.stdout.write('stopped\n');
