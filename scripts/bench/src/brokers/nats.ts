// outbox → NATS JetStream against a bare JetStream client publishing the same messages, both
// awaiting every PubAck with the same number in flight.
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, headers } from '@nats-io/transport-node';
import type { OutboxMessage } from '@troutbox/core';
import { natsMessageHeaders, natsSender } from '@troutbox/nats';
import { brokerRow, claimAll, drainThrough, withSeededOutbox } from '../broker-harness.js';

const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const CONCURRENCY = 256;

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

function outboxRun(databaseUrl: string, messages: number): Promise<number> {
  return withSeededOutbox(databaseUrl, messages, async (store) => {
    return await withStream(async (subjectPrefix) => {
      const sender = natsSender({ servers: NATS_URL, subjectPrefix, concurrency: CONCURRENCY });
      return drainThrough(store, sender, messages);
    });
  });
}

function rawRun(databaseUrl: string, messages: number): Promise<number> {
  return withSeededOutbox(databaseUrl, messages, async (store) => {
    // The same rows, read before the clock starts.
    const batch = await claimAll(store, messages);
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
  });
}

/** outbox → JetStream messages/s (relay + natsSender, batch 500) beside a bare client's publish rate. */
export async function bench(options: {
  messages: number;
  databaseUrl: string;
  runs: number;
}): Promise<{ broker: string; messages: number; outboxPerSec: number; rawPerSec: number }> {
  return brokerRow(
    'NATS JetStream (PubAck per message, 256 in flight)',
    options,
    () => outboxRun(options.databaseUrl, options.messages),
    () => rawRun(options.databaseUrl, options.messages),
  );
}
