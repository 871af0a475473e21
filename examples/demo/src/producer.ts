import { createOutbox, type Outbox, pgClient, pgTransaction, postgres } from '@troutbox/core';
import type pg from 'pg';

/** An order as the shop writes it. */
export interface Order {
  id: number;
  total: number;
}

/** Thrown inside the transaction to roll it back, as a business rule would. */
export class PaymentDeclined extends Error {
  override readonly name = 'PaymentDeclined';
}

/**
 * The producer of the README: the order and its `OrderPlaced` message commit together, or not
 * at all. `pgTransaction` runs BEGIN/COMMIT (ROLLBACK when the callback throws) and listens for
 * the client's errors, so a database restart fails this order's transaction (it rejects) and
 * never crashes the process; the next call gets a fresh connection.
 */
export async function placeOrder(
  pool: pg.Pool,
  outbox: Outbox,
  schema: string,
  order: Order,
  declined = false,
): Promise<void> {
  await pgTransaction(pool, async (client) => {
    await client.query(`INSERT INTO "${schema}".orders (id, total) VALUES ($1, $2)`, [order.id, order.total]);
    await outbox.add(pgClient(client), {
      topic: 'orders',
      key: String(order.id),
      payload: { type: 'OrderPlaced', ...order },
    });
    if (declined) throw new PaymentDeclined(`order ${order.id}: payment declined`);
  });
}

/** What happened to one order of {@link produce}. */
export type OrderOutcome =
  | { readonly id: number; readonly status: 'committed' }
  | { readonly id: number; readonly status: 'declined' }
  | { readonly id: number; readonly status: 'failed'; readonly error: unknown };

/**
 * Place orders 1, 2, 3… until `signal` aborts, one transaction each (every seventh is declined
 * and rolls back). An order whose transaction fails (the database restarting) is reported and
 * skipped after a short pause, as a request handler would answer 503 and carry on.
 */
export async function produce(options: {
  pool: pg.Pool;
  schema: string;
  signal: AbortSignal;
  onOrder: (outcome: OrderOutcome) => void;
  retryDelayMs?: number;
}): Promise<void> {
  const { pool, schema, signal, onOrder } = options;
  const outbox = createOutbox({ dialect: postgres({ schema }) });
  for (let id = 1; !signal.aborted; id++) {
    const declined = id % 7 === 0;
    try {
      await placeOrder(pool, outbox, schema, { id, total: 10 + (id % 90) }, declined);
      onOrder({ id, status: 'committed' });
    } catch (error) {
      if (error instanceof PaymentDeclined) {
        onOrder({ id, status: 'declined' });
        continue;
      }
      onOrder({ id, status: 'failed', error });
      // While the database comes back, do not spin on it.
      await new Promise((resolve) => setTimeout(resolve, options.retryDelayMs ?? 50));
    }
  }
}
