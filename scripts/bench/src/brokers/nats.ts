// outbox → NATS JetStream against a bare JetStream client publishing the same messages, both
// awaiting every PubAck with the same number in flight.
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, headers } from '@nats-io/transport-node';
import { createRelay, type OutboxMessage } from '@troutbox/core';
import { natsMessageHeaders, natsSender } from '@troutbox/nats';
import pg from 'pg';
import { seed } from '../drain.js';
import { median, until } from '../util.js';

const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const CONCURRENCY = 256;
const BATCH_SIZE = 500;

function newPool(databaseUrl: string, max: number): pg.Pool {
  const pool = new pg.Pool({ connectionString: databaseUrl, max });
  pool.on('error', () => {});
  return pool;
}

/** A stream of its own for one run, deleted afterwards. */
async function withStream<T>(fn: (subjectPrefix: string, stream: string) => Promise<T>): Promise<T> {
  const nc = await connect({ servers: NATS_URL });
  const jsm = await jetstreamManager(nc);
  const id = `${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const stream = `BENCH_${id}`;
  const prefix = `bench_${id}`;
  await jsm.streams.add({ name: stream, subjects: [`${prefix}.>`] });
  try {
    const result = await fn(`${prefix}.`, stream);
    const stored = (await jsm.streams.info(stream)).state.messages;
    if (stored === 0) throw new Error(`stream ${stream} is empty after the run`);
    return result;
  } finally {
    await jsm.streams.delete(stream).catch(() => {});
    await nc.close();
  }
}

async function outboxRun(databaseUrl: string, messages: number): Promise<number> {
  const pool = newPool(databaseUrl, 4);
  const { schema, store } = await seed(pool, messages);
  try {
    return await withStream(async (subjectPrefix) => {
      const sender = natsSender({ servers: NATS_URL, subjectPrefix, concurrency: CONCURRENCY });
      const relay = createRelay({ store, sender, batchSize: BATCH_SIZE, pollIntervalMs: 20 });
      let delivered = 0;
      relay.on('batch', (b) => {
        delivered += b.sent;
      });
      const started = performance.now();
      await relay.start();
      await until(() => delivered >= messages, 600_000, 2);
      const seconds = (performance.now() - started) / 1000;
      await relay.stop();
      await sender.close();
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
    const batch = await store.db.transaction((tx) => store.claim(tx, messages));
    return await withStream(async (subjectPrefix) => {
      const nc = await connect({ servers: NATS_URL });
      const js = jetstream(nc);
      const publish = async (m: OutboxMessage) => {
        const h = headers();
        for (const [k, v] of Object.entries(natsMessageHeaders(m))) h.set(k, v);
        await js.publish(subjectPrefix + m.topic, m.payload, { msgID: m.id, headers: h });
      };
      let next = 0;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          for (let i = next++; i < batch.length; i = next++) await publish(batch[i]!);
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      await nc.close();
      return batch.length / seconds;
    });
  } finally {
    await pool.query(`DROP SCHEMA "${schema}" CASCADE`);
    await pool.end();
  }
}

/** outbox → JetStream messages/s (relay + natsSender, batch 500) beside a bare client's publish rate. */
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
    broker: 'NATS JetStream (PubAck per message, 256 in flight)',
    messages: options.messages,
    outboxPerSec: median(outbox),
    rawPerSec: median(raw),
  };
}
