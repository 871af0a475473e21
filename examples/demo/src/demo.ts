import {
  createOutbox,
  createRelay,
  dead,
  type Executor,
  type OutboxMessage,
  payloadJson,
  postgres,
  retry,
  type SendResult,
  SqlMessageStore,
  sent,
  type TransactionalExecutor,
} from '@troutbox/core';

/** What the demo measured; `ok` is true when every guarantee held. */
export interface DemoSummary {
  database: string;
  committed: number;
  rolledBack: number;
  delivered: number;
  duplicates: number;
  retried: number;
  dead: number;
  rolledBackButDelivered: number;
  committedButLost: number;
  seconds: number;
  ok: boolean;
}

export interface DemoOptions {
  /** A transactional executor on the database (PGlite or PostgreSQL). */
  db: TransactionalExecutor;
  database: string;
  orders?: number;
  /** Share of order transactions that roll back. */
  rollbackRate?: number;
  /** Share of sends that fail with a transient error. */
  failureRate?: number;
  /** Deterministic randomness for tests. */
  random?: () => number;
  log?: (line: string) => void;
}

interface OrderPlaced {
  type: 'OrderPlaced';
  orderId: number;
  total: number;
}

/**
 * The demo: an app writes orders in transactions (some roll back), a relay delivers the
 * `OrderPlaced` messages to a sender that fails now and then (and always for the unlucky
 * order total of 13, a poison message), and the run ends with a summary.
 */
export async function runDemo(options: DemoOptions): Promise<DemoSummary> {
  const { db } = options;
  const orders = options.orders ?? 2000;
  const rollbackRate = options.rollbackRate ?? 0.1;
  const failureRate = options.failureRate ?? 0.05;
  const random = options.random ?? Math.random;
  const log = options.log ?? (() => {});
  const started = performance.now();

  const schema = `troutbox_demo_${process.pid}_${Date.now().toString(36)}`;
  const store = new SqlMessageStore({ dialect: postgres({ schema }), db });
  await store.migrate();
  await db.query(`CREATE TABLE "${schema}".orders (id integer PRIMARY KEY, total integer NOT NULL)`);

  // Deliveries as the "broker" sees them.
  const deliveries = new Map<number, number>();
  const sender = {
    name: 'flaky-console',
    async send(messages: readonly OutboxMessage[]): Promise<SendResult[]> {
      return messages.map((m) => {
        const event = payloadJson<OrderPlaced>(m);
        if (event.total === 13) return dead(new Error('unlucky order total: the consumer rejects it'));
        if (random() < failureRate) return retry(new Error('broker hiccup'));
        deliveries.set(event.orderId, (deliveries.get(event.orderId) ?? 0) + 1);
        return sent();
      });
    },
  };
  const relay = createRelay({
    store,
    sender,
    batchSize: 100,
    concurrency: 2,
    pollIntervalMs: 50,
    maxAttempts: 5,
    backoff: { initialDelayMs: 20, maxDelayMs: 200 },
  });
  let retried = 0;
  let deadCount = 0;
  relay.on('batch', (b) => {
    retried += b.retried;
    deadCount += b.dead;
  });
  relay.on('error', ({ error, operation }) => log(`relay error during ${operation}: ${String(error)}`));
  const outbox = createOutbox({ dialect: store.dialect, onAdd: () => relay.wake() });
  await relay.start();

  const committed = new Set<number>();
  const rolledBack = new Set<number>();
  const poison = new Set<number>();
  class BusinessRuleViolation extends Error {}
  for (let orderId = 1; orderId <= orders; orderId++) {
    const total = orderId % 97 === 0 ? 13 : 10 + Math.floor(random() * 990);
    const fails = random() < rollbackRate;
    try {
      await db.transaction(async (tx: Executor) => {
        await tx.query(`INSERT INTO "${schema}".orders (id, total) VALUES ($1, $2)`, [orderId, total]);
        await outbox.add(tx, {
          topic: 'orders',
          key: String(orderId),
          payload: { type: 'OrderPlaced', orderId, total } satisfies OrderPlaced,
        });
        if (fails) throw new BusinessRuleViolation('payment declined');
      });
      if (total === 13) poison.add(orderId);
      else committed.add(orderId);
    } catch (error) {
      if (!(error instanceof BusinessRuleViolation)) throw error;
      rolledBack.add(orderId);
    }
  }
  log(`wrote ${committed.size + poison.size} orders, rolled back ${rolledBack.size}; waiting for the relay…`);

  const deadline = Date.now() + 60_000;
  for (;;) {
    const stats = await store.stats();
    if (stats.pending === 0) break;
    if (Date.now() > deadline) {
      log(`gave up waiting: ${stats.pending} messages still pending`);
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  await relay.stop();
  const stats = await store.stats();
  await db.query(`DROP SCHEMA "${schema}" CASCADE`);

  let duplicates = 0;
  for (const n of deliveries.values()) duplicates += n - 1;
  const rolledBackButDelivered = [...rolledBack].filter((id) => deliveries.has(id)).length;
  const committedButLost = [...committed].filter((id) => !deliveries.has(id)).length;
  return {
    database: options.database,
    committed: committed.size + poison.size,
    rolledBack: rolledBack.size,
    delivered: deliveries.size,
    duplicates,
    retried,
    dead: deadCount,
    rolledBackButDelivered,
    committedButLost,
    seconds: (performance.now() - started) / 1000,
    ok:
      rolledBackButDelivered === 0 &&
      committedButLost === 0 &&
      stats.dead === poison.size &&
      deadCount === poison.size,
  };
}
