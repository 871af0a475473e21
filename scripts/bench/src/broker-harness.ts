// What every broker benchmark shares: a seeded outbox table per run, the relay's drain rate
// through a sender, the same rows read up front for the bare client, and medians of runs.
import { createRelay, type OutboxMessage, type Sender, type SqlMessageStore } from '@troutbox/core';
import pg from 'pg';
import { seed } from './drain.js';
import { median, until } from './util.js';

export const BATCH_SIZE = 500;

/** The row a broker benchmark reports. */
export interface BrokerRow {
  broker: string;
  messages: number;
  outboxPerSec: number;
  rawPerSec: number;
}

/** `messages` pending rows in a schema of their own for `fn`, dropped afterwards. */
export async function withSeededOutbox<T>(
  databaseUrl: string,
  messages: number,
  fn: (store: SqlMessageStore) => Promise<T>,
): Promise<T> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  pool.on('error', () => {});
  const { schema, store } = await seed(pool, messages);
  try {
    return await fn(store);
  } finally {
    await pool.query(`DROP SCHEMA "${schema}" CASCADE`);
    await pool.end();
  }
}

/** Messages/s of a relay (batch 500) draining the whole table through `sender`; throws if any message failed. */
export async function drainThrough(
  store: SqlMessageStore,
  sender: Sender,
  messages: number,
): Promise<number> {
  const relay = createRelay({ store, sender, batchSize: BATCH_SIZE, pollIntervalMs: 20 });
  let delivered = 0;
  let failed = 0;
  relay.on('batch', (b) => {
    delivered += b.sent;
    failed += b.retried + b.dead;
  });
  const started = performance.now();
  await relay.start();
  await until(() => delivered >= messages || failed > 0, 600_000, 2);
  const seconds = (performance.now() - started) / 1000;
  await relay.stop();
  await sender.close?.();
  if (failed > 0) throw new Error(`${failed} messages were not acknowledged by the broker`);
  return messages / seconds;
}

/** The same rows the relay would send, read before the bare client's clock starts. */
export function claimAll(store: SqlMessageStore, messages: number): Promise<OutboxMessage[]> {
  return store.db.transaction((tx) => store.claim(tx, messages));
}

/** Medians of `runs` interleaved outbox and raw runs. */
export async function brokerRow(
  broker: string,
  options: { messages: number; runs: number },
  outboxRun: () => Promise<number>,
  rawRun: () => Promise<number>,
): Promise<BrokerRow> {
  const outbox: number[] = [];
  const raw: number[] = [];
  for (let run = 0; run < options.runs; run++) {
    outbox.push(await outboxRun());
    raw.push(await rawRun());
  }
  return { broker, messages: options.messages, outboxPerSec: median(outbox), rawPerSec: median(raw) };
}
