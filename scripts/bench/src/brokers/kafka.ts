// outbox → Kafka against a bare kafkajs idempotent producer sending the same messages, both with
// acks -1 in requests of 500. Runs only when KAFKA_BROKERS is set: no broker runs on the dev machine.
import { createRelay, type OutboxMessage } from '@troutbox/core';
import { kafkaSender } from '@troutbox/kafka';
import kafkajs from 'kafkajs';
import pg from 'pg';
import { seed } from '../drain.js';
import { median, until } from '../util.js';

const BROKERS = process.env.KAFKA_BROKERS?.split(',').filter(Boolean) ?? [];
const BATCH_SIZE = 500;
const quiet = { logLevel: kafkajs.logLevel.NOTHING };

function newPool(databaseUrl: string, max: number): pg.Pool {
  const pool = new pg.Pool({ connectionString: databaseUrl, max });
  pool.on('error', () => {});
  return pool;
}

/** A topic of its own for one run (3 partitions), deleted afterwards. */
async function withTopic<T>(fn: (topic: string) => Promise<T>): Promise<T> {
  const admin = new kafkajs.Kafka({ clientId: 'troutbox-bench', brokers: BROKERS, ...quiet }).admin();
  await admin.connect();
  const topic = `bench_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
  try {
    return await fn(topic);
  } finally {
    await admin.deleteTopics({ topics: [topic] }).catch(() => {});
    await admin.disconnect();
  }
}

async function outboxRun(databaseUrl: string, messages: number): Promise<number> {
  const pool = newPool(databaseUrl, 4);
  const { schema, store } = await seed(pool, messages);
  try {
    return await withTopic(async (topic) => {
      const sender = kafkaSender({ brokers: BROKERS, kafkaConfig: quiet, topic: () => topic });
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
      await sender.close();
      if (failed > 0) throw new Error(`${failed} messages were not acknowledged`);
      return messages / seconds;
    });
  } finally {
    await pool.query(`DROP SCHEMA "${schema}" CASCADE`);
    await pool.end();
  }
}

async function rawRun(databaseUrl: string, messages: number): Promise<number> {
  const pool = newPool(databaseUrl, 2);
  const { schema, store } = await seed(pool, messages);
  try {
    const batch: OutboxMessage[] = await store.db.transaction((tx) => store.claim(tx, messages));
    return await withTopic(async (topic) => {
      const kafka = new kafkajs.Kafka({ clientId: 'troutbox-bench-raw', brokers: BROKERS, ...quiet });
      const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 5 });
      await producer.connect();
      const started = performance.now();
      for (let i = 0; i < batch.length; i += BATCH_SIZE) {
        await producer.send({
          topic,
          acks: -1,
          messages: batch.slice(i, i + BATCH_SIZE).map((m) => ({
            key: m.key,
            value: Buffer.from(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength),
            headers: { ...m.headers, 'outbox-id': m.id },
            timestamp: String(m.createdAt.getTime()),
          })),
        });
      }
      const seconds = (performance.now() - started) / 1000;
      await producer.disconnect();
      return batch.length / seconds;
    });
  } finally {
    await pool.query(`DROP SCHEMA "${schema}" CASCADE`);
    await pool.end();
  }
}

/**
 * outbox → Kafka messages/s (relay + kafkaSender, batch 500) beside a bare idempotent producer.
 * Without `KAFKA_BROKERS` the row says so and carries no figures.
 */
export async function bench(options: {
  messages: number;
  databaseUrl: string;
  runs: number;
}): Promise<{ broker: string; messages: number; outboxPerSec: number; rawPerSec: number }> {
  if (BROKERS.length === 0) {
    return {
      broker: 'Kafka (not measured: KAFKA_BROKERS not set)',
      messages: options.messages,
      outboxPerSec: Number.NaN,
      rawPerSec: Number.NaN,
    };
  }
  const outbox: number[] = [];
  const raw: number[] = [];
  for (let run = 0; run < options.runs; run++) {
    outbox.push(await outboxRun(options.databaseUrl, options.messages));
    raw.push(await rawRun(options.databaseUrl, options.messages));
  }
  return {
    broker: 'Kafka (idempotent producer, acks -1, 500 per request)',
    messages: options.messages,
    outboxPerSec: median(outbox),
    rawPerSec: median(raw),
  };
}
