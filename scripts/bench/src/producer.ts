import { createOutbox } from '@troutbox/core';
import type { BenchTarget } from './databases.js';
import { median, schemaName } from './util.js';

export interface ProducerRow {
  variant: string;
  txPerSec: number;
}

/**
 * Producer cost: `transactions` sequential transactions on one connection, each writing one
 * business row — alone, plus a hand-written single-row INSERT into the outbox table, and plus
 * `outbox.add` of one message. Variants are interleaved run by run.
 */
export async function producerBench(
  target: BenchTarget,
  options: { transactions: number; runs: number },
): Promise<ProducerRow[]> {
  const namespace = schemaName('producer');
  const dialect = target.dialect(namespace);
  const pool = target.pool(2);
  await dialect.migrate(pool.db);
  const orders = await target.createOrders(namespace);
  const outbox = createOutbox({ dialect });
  const session = await pool.session();
  const outboxTable = dialect.tableName;
  let nextId = 1;
  const order = async (id: number) => {
    const { sql, params } = target.insertOrder(orders, id);
    await session.query(sql, params);
  };

  const variants: Record<string, (id: number) => Promise<void>> = {
    'business row alone': async (id) => {
      await session.begin();
      await order(id);
      await session.commit();
    },
    '+ hand-written outbox INSERT': async (id) => {
      await session.begin();
      await order(id);
      const payload = Buffer.from(JSON.stringify({ type: 'OrderPlaced', orderId: id, total: id % 977 }));
      const { sql, params } = target.handInsert(outboxTable, id, payload);
      await session.query(sql, params);
      await session.commit();
    },
    '+ outbox.add (troutbox)': async (id) => {
      await session.begin();
      await order(id);
      await outbox.add(session.executor, {
        topic: 'orders',
        key: String(id),
        payload: { type: 'OrderPlaced', orderId: id, total: id % 977 },
      });
      await session.commit();
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
  session.release();
  await pool.end();
  await target.drop(namespace);
  return Object.entries(samples).map(([variant, s]) => ({ variant, txPerSec: median(s) }));
}
