// Producer cost through @troutbox/kysely: a one-row business transaction plus one message via
// addMessage, against the same transaction plus an equivalent outbox row written with Kysely's
// own insertInto(…).values(…). Both on one pooled connection, interleaved, in the same run.
import { kyselyOutbox, outboxMigratorTables } from '@troutbox/kysely';
import { Kysely, PostgresDialect } from 'kysely';
import { Migrator } from 'kysely/migration';
import pg from 'pg';
import { median, schemaName } from '../util.js';

interface Database {
  orders: { id: number; customer: string; total: number };
  outbox_messages: {
    topic: string;
    key: string | null;
    payload: Uint8Array;
    content_type: string;
    headers: string;
  };
}

export async function bench(options: {
  databaseUrl: string;
  transactions: number;
  runs: number;
}): Promise<{ orm: string; withOutboxTxPerSec: number; withOrmInsertTxPerSec: number }> {
  const schema = schemaName('kysely');
  // One connection: both variants run on the same backend, as one application request would.
  const pool = new pg.Pool({ connectionString: options.databaseUrl, max: 1 });
  pool.on('error', () => {});
  const root = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const db = root.withSchema(schema);
  try {
    const { error } = await new Migrator({
      db: root,
      provider: kyselyOutbox({ schema }).migrations(),
      ...outboxMigratorTables,
      migrationTableSchema: schema,
    }).migrateToLatest();
    if (error) throw error;
    await db.schema
      .createTable('orders')
      .addColumn('id', 'bigint', (c) => c.primaryKey())
      .addColumn('customer', 'text', (c) => c.notNull())
      .addColumn('total', 'integer', (c) => c.notNull())
      .execute();
    const outbox = kyselyOutbox({ schema });
    let nextId = 1;

    const variants = {
      addMessage: (id: number) =>
        db.transaction().execute(async (trx) => {
          await trx
            .insertInto('orders')
            .values({ id, customer: 'c-42', total: id % 977 })
            .execute();
          await outbox.addMessage(trx, {
            topic: 'orders',
            key: String(id),
            payload: { type: 'OrderPlaced', orderId: id, total: id % 977 },
          });
        }),
      insertInto: (id: number) =>
        db.transaction().execute(async (trx) => {
          await trx
            .insertInto('orders')
            .values({ id, customer: 'c-42', total: id % 977 })
            .execute();
          await trx
            .insertInto('outbox_messages')
            .values({
              topic: 'orders',
              key: String(id),
              payload: Buffer.from(JSON.stringify({ type: 'OrderPlaced', orderId: id, total: id % 977 })),
              content_type: 'application/json',
              headers: '{}',
            })
            .execute();
        }),
    };
    type Variant = keyof typeof variants;
    const names = Object.keys(variants) as Variant[];
    // Warm up the connection, plans and the JIT.
    for (const name of names) for (let i = 0; i < 300; i++) await variants[name](nextId++);
    const samples: Record<Variant, number[]> = { addMessage: [], insertInto: [] };
    // Variants take turns every 50 transactions, so a change in the machine's load falls on both.
    const chunk = 50;
    for (let r = 0; r < options.runs; r++) {
      const elapsed: Record<Variant, number> = { addMessage: 0, insertInto: 0 };
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
      orm: 'kysely 0.29 (addMessage vs insertInto)',
      withOutboxTxPerSec: median(samples.addMessage),
      withOrmInsertTxPerSec: median(samples.insertInto),
    };
  } finally {
    await root.schema.dropSchema(schema).ifExists().cascade().execute();
    await root.destroy();
  }
}
