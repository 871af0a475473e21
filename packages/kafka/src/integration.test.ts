import { createOutbox, createRelay, pgClient, pgPool, postgres, SqlMessageStore } from '@troutbox/core';
import kafkajs from 'kafkajs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkaSender } from './index.js';

// No Kafka broker runs on the development machine; CI (or you) can point this at one:
//   KAFKA_BROKERS=localhost:9092 pnpm vitest run packages/kafka
const BROKERS = process.env.KAFKA_BROKERS?.split(',').filter(Boolean) ?? [];
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
}

async function waitFor<T>(check: () => T | Promise<T>, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe.skipIf(BROKERS.length === 0)(
  BROKERS.length === 0 ? 'kafka integration (skipped: KAFKA_BROKERS not set)' : 'kafka integration',
  () => {
    const kafka = new kafkajs.Kafka({
      clientId: 'troutbox-test',
      brokers: BROKERS,
      logLevel: kafkajs.logLevel.NOTHING,
    });
    const admin = kafka.admin();
    const pool = new pg.Pool({ connectionString: DATABASE_URL });
    pool.on('error', () => {});
    const schema = uniqueName('t_kafka');
    const topic = uniqueName('troutbox_test');
    const missingTopic = uniqueName('troutbox_missing');

    beforeAll(async () => {
      await admin.connect();
      await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
    });

    afterAll(async () => {
      await admin.deleteTopics({ topics: [topic] }).catch(() => {});
      await admin.disconnect();
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await pool.end();
    });

    it('delivers from a PostgreSQL transaction with key, headers and id; an unknown topic is dead', async () => {
      const dialect = postgres({ schema });
      const store = new SqlMessageStore({ dialect, db: pgPool(pool) });
      await store.migrate();
      const outbox = createOutbox({ dialect });
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await outbox.add(
          pgClient(client),
          Array.from({ length: 30 }, (_, i) => ({
            topic,
            key: `k${i % 5}`,
            payload: { i },
            headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
          })),
        );
        await outbox.add(pgClient(client), { topic: missingTopic, payload: { lost: true } });
        await client.query('COMMIT');
      } finally {
        client.release();
      }

      const sender = kafkaSender({
        brokers: BROKERS,
        kafkaConfig: { logLevel: kafkajs.logLevel.NOTHING, retry: { retries: 2 } },
      });
      const relay = createRelay({ store, sender, batchSize: 500, closeSender: true });
      expect(await relay.runOnce()).toMatchObject({ sent: 30, dead: 1 });
      await relay.stop();
      expect((await store.deadLetters())[0]?.topic).toBe(missingTopic);

      const consumer = kafka.consumer({ groupId: uniqueName('troutbox_test') });
      const received: { key: string; partition: number; i: number; id: string; traceparent: string }[] = [];
      await consumer.connect();
      try {
        await consumer.subscribe({ topic, fromBeginning: true });
        await consumer.run({
          eachMessage: async ({ partition, message }) => {
            received.push({
              key: message.key!.toString(),
              partition,
              i: (JSON.parse(message.value!.toString()) as { i: number }).i,
              id: message.headers!['outbox-id']!.toString(),
              traceparent: message.headers!.traceparent!.toString(),
            });
          },
        });
        await waitFor(() => received.length >= 30, '30 messages');
      } finally {
        await consumer.disconnect();
      }
      expect(new Set(received.map((r) => r.id)).size).toBe(30);
      expect(received.every((r) => r.traceparent.startsWith('00-4bf92f'))).toBe(true);
      for (let k = 0; k < 5; k++) {
        const ofKey = received.filter((r) => r.key === `k${k}`);
        // One partition per key, and the key's messages in commit order.
        expect(new Set(ofKey.map((r) => r.partition)).size).toBe(1);
        expect(ofKey.map((r) => r.i)).toEqual([...ofKey.map((r) => r.i)].sort((a, b) => a - b));
      }
    });
  },
);
