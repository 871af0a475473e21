import { createOutbox, pgClient, pgPool, postgres, SqlMessageStore } from '@troutbox/core';
import { median, newPool, schemaName } from './util.js';

export interface ProducerRow {
  variant: string;
  txPerSec: number;
}

/**
 * Producer cost: `transactions` sequential transactions on one connection, each writing one
 * business row — alone, plus a hand-written single-row INSERT into the outbox table, and plus
 * `outbox.add` of one message. Variants are interleaved run by run.
 */
export async function producerBench(options: { transactions: number; runs: number }): Promise<ProducerRow[]> {
  const pool = newPool(2);
  const schema = schemaName('producer');
  const store = new SqlMessageStore({ dialect: postgres({ schema }), db: pgPool(pool) });
  await store.migrate();
  await pool.query(
    `CREATE TABLE "${schema}".orders (id bigint PRIMARY KEY, customer text NOT NULL, total integer NOT NULL)`,
  );
  const outbox = createOutbox({ dialect: store.dialect });
  const client = await pool.connect();
  const exec = pgClient(client);
  const orders = `"${schema}".orders`;
  const outboxTable = `"${schema}".outbox_messages`;
  let nextId = 1;

  const variants: Record<string, (id: number) => Promise<void>> = {
    'business row alone': async (id) => {
      await client.query('BEGIN');
      await client.query(`INSERT INTO ${orders} (id, customer, total) VALUES ($1, $2, $3)`, [
        id,
        'c-42',
        id % 977,
      ]);
      await client.query('COMMIT');
    },
    '+ hand-written outbox INSERT': async (id) => {
      await client.query('BEGIN');
      await client.query(`INSERT INTO ${orders} (id, customer, total) VALUES ($1, $2, $3)`, [
        id,
        'c-42',
        id % 977,
      ]);
      const payload = Buffer.from(JSON.stringify({ type: 'OrderPlaced', orderId: id, total: id % 977 }));
      await client.query(
        `INSERT INTO ${outboxTable} (topic, key, payload, headers) VALUES ($1, $2, $3, $4::jsonb)`,
        ['orders', String(id), payload, '{}'],
      );
      await client.query('COMMIT');
    },
    '+ outbox.add (troutbox)': async (id) => {
      await client.query('BEGIN');
      await client.query(`INSERT INTO ${orders} (id, customer, total) VALUES ($1, $2, $3)`, [
        id,
        'c-42',
        id % 977,
      ]);
      await outbox.add(exec, {
        topic: 'orders',
        key: String(id),
        payload: { type: 'OrderPlaced', orderId: id, total: id % 977 },
      });
      await client.query('COMMIT');
    },
  };
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  // Warm up connections, plans and the JIT.
  for (const run of Object.values(variants)) for (let i = 0; i < 300; i++) await run(nextId++);
  // Variants take turns every 50 transactions, so a change in the machine's load (other
  // processes, autovacuum, checkpoints) falls on all of them alike.
  const chunk = 50;
  for (let r = 0; r < options.runs; r++) {
    const elapsed: Record<string, number> = Object.fromEntries(Object.keys(variants).map((k) => [k, 0]));
    for (let done = 0; done < options.transactions; done += chunk) {
      for (const [name, run] of Object.entries(variants)) {
        const started = performance.now();
        for (let i = 0; i < chunk; i++) await run(nextId++);
        elapsed[name]! += performance.now() - started;
      }
    }
    for (const name of Object.keys(variants))
      samples[name]!.push(options.transactions / (elapsed[name]! / 1000));
  }
  client.release();
  await pool.query(`DROP SCHEMA "${schema}" CASCADE`);
  await pool.end();
  return Object.entries(samples).map(([variant, s]) => ({ variant, txPerSec: median(s) }));
}
