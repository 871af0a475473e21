import {
  createOutbox,
  createRelay,
  type OutboxMessage,
  payloadJson,
  pgClient,
  pgPool,
  postgres,
  type SendResult,
  SqlMessageStore,
  sent,
} from '@troutbox/core';
import { newPool, percentile, schemaName, until } from './util.js';

export interface LatencyRow {
  mode: string;
  messages: number;
  p50: number;
  p99: number;
}

/**
 * Commit → sender latency for single messages committed at a low, steady rate. `wake` calls
 * `relay.wake()` after each commit (writer and relay in one process); otherwise the relay finds
 * messages by polling every `pollIntervalMs`.
 */
export async function latencyBench(options: {
  messages: number;
  ratePerSec: number;
  pollIntervalMs: number;
  wake: boolean;
}): Promise<LatencyRow> {
  const pool = newPool(4);
  const schema = schemaName('latency');
  const store = new SqlMessageStore({ dialect: postgres({ schema }), db: pgPool(pool) });
  await store.migrate();
  const committedAt = new Map<number, number>();
  const latencies: number[] = [];
  const sender = {
    async send(messages: readonly OutboxMessage[]): Promise<SendResult[]> {
      const now = performance.now();
      for (const m of messages) {
        const { seq } = payloadJson<{ seq: number }>(m);
        const at = committedAt.get(seq);
        // A message can reach the sender before its producer has noted the commit time.
        latencies.push(at === undefined ? 0 : now - at);
      }
      return messages.map(() => sent());
    },
  };
  const relay = createRelay({ store, sender, pollIntervalMs: options.pollIntervalMs });
  const outbox = createOutbox({ dialect: store.dialect });
  await relay.start();
  const client = await pool.connect();
  const interval = 1000 / options.ratePerSec;
  const started = performance.now();
  for (let seq = 0; seq < options.messages; seq++) {
    const due = started + seq * interval;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    await client.query('BEGIN');
    await outbox.add(pgClient(client), { topic: 'latency', payload: { seq } });
    await client.query('COMMIT');
    committedAt.set(seq, performance.now());
    if (options.wake) relay.wake();
  }
  await until(() => latencies.length >= options.messages, 30_000);
  await relay.stop();
  client.release();
  await pool.query(`DROP SCHEMA "${schema}" CASCADE`);
  await pool.end();
  return {
    mode: options.wake
      ? `in-process wake, poll ${options.pollIntervalMs} ms`
      : `polling every ${options.pollIntervalMs} ms`,
    messages: options.messages,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
  };
}
