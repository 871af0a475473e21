// outbox → RabbitMQ against a bare amqplib ConfirmChannel publishing the same messages, both with
// publisher confirms, persistent messages, `mandatory`, to a durable queue.
import { createRelay, type OutboxMessage } from '@troutbox/core';
import { rabbitmqSender } from '@troutbox/rabbitmq';
import amqp from 'amqplib';
import pg from 'pg';
import { seed } from '../drain.js';
import { median, until } from '../util.js';

const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const BATCH_SIZE = 500;

function newPool(databaseUrl: string, max: number): pg.Pool {
  const pool = new pg.Pool({ connectionString: databaseUrl, max });
  pool.on('error', () => {});
  return pool;
}

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

async function outboxRun(databaseUrl: string, messages: number): Promise<number> {
  const pool = newPool(databaseUrl, 4);
  const { schema, store } = await seed(pool, messages);
  try {
    return await withQueue(messages, async (queue) => {
      const sender = rabbitmqSender({ url: AMQP_URL, route: () => ({ exchange: '', routingKey: queue }) });
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
      if (failed > 0) throw new Error(`${failed} messages were not confirmed`);
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
    // The same rows, read before the clock starts.
    const batch: OutboxMessage[] = await store.db.transaction((tx) => store.claim(tx, messages));
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
  } finally {
    await pool.query(`DROP SCHEMA "${schema}" CASCADE`);
    await pool.end();
  }
}

/** outbox → RabbitMQ messages/s (relay + rabbitmqSender, batch 500) beside a bare ConfirmChannel's rate. */
export async function bench(options: {
  messages: number;
  databaseUrl: string;
  runs: number;
}): Promise<{ broker: string; messages: number; outboxPerSec: number; rawPerSec: number }> {
  const outbox: number[] = [];
  const raw: number[] = [];
  for (let run = 0; run < options.runs; run++) {
    outbox.push(await outboxRun(options.databaseUrl, options.messages));
    raw.push(await rawRun(options.databaseUrl, options.messages));
  }
  return {
    broker: 'RabbitMQ (publisher confirms per 500, persistent, durable queue)',
    messages: options.messages,
    outboxPerSec: median(outbox),
    rawPerSec: median(raw),
  };
}
