import { createOutbox } from '@troutbox/core';
import type { BenchTarget } from './databases.js';
import { interleaved, schemaName } from './util.js';

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
  const txPerSec = await interleaved(variants, options);
  session.release();
  await pool.end();
  await target.drop(namespace);
  return Object.entries(txPerSec).map(([variant, tps]) => ({ variant, txPerSec: tps }));
}
