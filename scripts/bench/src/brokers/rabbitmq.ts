import { rabbitmqSender } from '@troutbox/rabbitmq';
import amqp from 'amqplib';
import { BATCH_SIZE, brokerRow, claimAll, drainThrough, withSeededOutbox } from '../broker-harness.js';

const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

/** A durable queue of its own for one run; checked to hold every message, then deleted. */
async function withQueue<T>(expected: number, fn: (queue: string) => Promise<T>): Promise<T> {
  const connection = await amqp.connect(AMQP_URL);
  connection.on('error', () => {});
  const channel = await connection.createChannel();
  const queue = `bench_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  await channel.assertQueue(queue, { durable: true });
  try {
    const result = await fn(queue);
    const { messageCount } = await channel.checkQueue(queue);
    if (messageCount < expected)
      throw new Error(`queue ${queue} holds ${messageCount} of ${expected} messages`);
    return result;
  } finally {
    await channel.deleteQueue(queue).catch(() => {});
    await connection.close().catch(() => {});
  }
}

function outboxRun(databaseUrl: string, messages: number): Promise<number> {
  return withSeededOutbox(databaseUrl, messages, (store) =>
    withQueue(messages, (queue) =>
      drainThrough(
        store,
        rabbitmqSender({ url: AMQP_URL, route: () => ({ exchange: '', routingKey: queue }) }),
        messages,
      ),
    ),
  );
}

function rawRun(databaseUrl: string, messages: number): Promise<number> {
  return withSeededOutbox(databaseUrl, messages, async (store) => {
    // The same rows, read before the clock starts.
    const batch = await claimAll(store, messages);
    return await withQueue(messages, async (queue) => {
      const connection = await amqp.connect(AMQP_URL);
      connection.on('error', () => {});
      const channel = await connection.createConfirmChannel();
      const started = performance.now();
      // Confirmed in windows of the relay's batch size, like the relay's batches.
      for (let i = 0; i < batch.length; i += BATCH_SIZE) {
        for (const m of batch.slice(i, i + BATCH_SIZE)) {
          const ok = channel.publish(
            '',
            queue,
            Buffer.from(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength),
            {
              persistent: true,
              mandatory: true,
              messageId: m.id,
              contentType: m.contentType,
              timestamp: Math.floor(m.createdAt.getTime() / 1000),
              headers: {
                ...m.headers,
                'outbox-key': m.key,
                'outbox-attempts': m.attempts,
                'outbox-topic': m.topic,
              },
            },
          );
          if (!ok) await new Promise((resolve) => channel.once('drain', resolve));
        }
        await channel.waitForConfirms();
      }
      const seconds = (performance.now() - started) / 1000;
      await connection.close();
      return batch.length / seconds;
    });
  });
}

/** outbox → RabbitMQ messages/s (relay + rabbitmqSender, batch 500) beside a bare ConfirmChannel's rate. */
export async function bench(options: {
  messages: number;
  databaseUrl: string;
  runs: number;
}): Promise<{ broker: string; messages: number; outboxPerSec: number; rawPerSec: number }> {
  return brokerRow(
    'RabbitMQ (publisher confirms per 500, persistent, durable queue)',
    options,
    () => outboxRun(options.databaseUrl, options.messages),
    () => rawRun(options.databaseUrl, options.messages),
  );
}
