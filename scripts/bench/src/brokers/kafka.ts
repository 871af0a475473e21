import { kafkaSender } from '@troutbox/kafka';
import kafkajs from 'kafkajs';
import { BATCH_SIZE, brokerRow, claimAll, drainThrough, withSeededOutbox } from '../broker-harness.js';

const BROKERS = process.env.KAFKA_BROKERS?.split(',').filter(Boolean) ?? [];
const quiet = { logLevel: kafkajs.logLevel.NOTHING };

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

function outboxRun(databaseUrl: string, messages: number): Promise<number> {
  return withSeededOutbox(databaseUrl, messages, async (store) => {
    return await withTopic(async (topic) => {
      const sender = kafkaSender({ brokers: BROKERS, kafkaConfig: quiet, topic: () => topic });
      return drainThrough(store, sender, messages);
    });
  });
}

function rawRun(databaseUrl: string, messages: number): Promise<number> {
  return withSeededOutbox(databaseUrl, messages, async (store) => {
    // The same rows, read before the clock starts.
    const batch = await claimAll(store, messages);
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
  });
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
  return brokerRow(
    'Kafka (idempotent producer, acks -1, 500 per request)',
    options,
    () => outboxRun(options.databaseUrl, options.messages),
    () => rawRun(options.databaseUrl, options.messages),
  );
}
