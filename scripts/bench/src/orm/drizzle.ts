// Producer cost through @troutbox/drizzle: a one-row business transaction plus one message via
// addMessage, against the same transaction plus an equivalent outbox row written with drizzle's
// own tx.insert(outboxTable).values(…). Both on one pooled connection, interleaved, in the
// same run.
import { postgres } from '@troutbox/core';
import { addMessage, drizzleExecutor, outboxTable } from '@troutbox/drizzle';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { bigint, integer, pgSchema, text } from 'drizzle-orm/pg-core';
import pg from 'pg';
import { median, schemaName } from '../util.js';

export async function bench(options: {
  databaseUrl: string;
  transactions: number;
  runs: number;
}): Promise<{ orm: string; withOutboxTxPerSec: number; withOrmInsertTxPerSec: number }> {
  const schema = schemaName('drizzle');
  // One connection: both variants run on the same backend, as one application request would.
  const pool = new pg.Pool({ connectionString: options.databaseUrl, max: 1 });
  pool.on('error', () => {});
  const db = drizzle(pool);
  const orders = pgSchema(schema).table('orders', {
    id: bigint('id', { mode: 'number' }).primaryKey(),
    customer: text('customer').notNull(),
    total: integer('total').notNull(),
  });
  const outbox = outboxTable({ schema });
  try {
    await postgres({ schema }).migrate(drizzleExecutor(db));
    await db.execute(
      sql.raw(
        `CREATE TABLE "${schema}".orders (id bigint PRIMARY KEY, customer text NOT NULL, total integer NOT NULL)`,
      ),
    );
    let nextId = 1;

    const variants = {
      addMessage: (id: number) =>
        db.transaction(async (tx) => {
          await tx.insert(orders).values({ id, customer: 'c-42', total: id % 977 });
          await addMessage(
            tx,
            {
              topic: 'orders',
              key: String(id),
              payload: { type: 'OrderPlaced', orderId: id, total: id % 977 },
            },
            { schema },
          );
        }),
      insert: (id: number) =>
        db.transaction(async (tx) => {
          await tx.insert(orders).values({ id, customer: 'c-42', total: id % 977 });
          await tx.insert(outbox).values({
            topic: 'orders',
            key: String(id),
            payload: Buffer.from(JSON.stringify({ type: 'OrderPlaced', orderId: id, total: id % 977 })),
            contentType: 'application/json',
            headers: {},
          });
        }),
    };
    type Variant = keyof typeof variants;
    const names = Object.keys(variants) as Variant[];
    // Warm up the connection, plans and the JIT.
    for (const name of names) for (let i = 0; i < 300; i++) await variants[name](nextId++);
    const samples: Record<Variant, number[]> = { addMessage: [], insert: [] };
    // Variants take turns every 50 transactions, so a change in the machine's load falls on both.
    const chunk = 50;
    for (let r = 0; r < options.runs; r++) {
      const elapsed: Record<Variant, number> = { addMessage: 0, insert: 0 };
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
      orm: 'drizzle 0.45 node-postgres (addMessage vs tx.insert)',
      withOutboxTxPerSec: median(samples.addMessage),
      withOrmInsertTxPerSec: median(samples.insert),
    };
  } finally {
    await db.execute(sql.raw(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
    await pool.end();
  }
}
