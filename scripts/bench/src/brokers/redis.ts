// outbox → Redis Streams against a bare ioredis client XADDing the same messages, both one
// pipeline of 500 at a time, awaiting every reply.
import { redisEntryFields, redisSender } from '@troutbox/redis';
import { Redis } from 'ioredis';
import { BATCH_SIZE, brokerRow, claimAll, drainThrough, withSeededOutbox } from '../broker-harness.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A key namespace of its own for one run, deleted afterwards. */
async function withNamespace<T>(fn: (ns: string) => Promise<T>): Promise<T> {
  const admin = new Redis(REDIS_URL);
  const ns = `bench_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  try {
    return await fn(ns);
  } finally {
    let cursor = '0';
    do {
      const [next, keys] = await admin.scan(cursor, 'MATCH', `${ns}*`, 'COUNT', 5000);
      if (keys.length > 0) await admin.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
    admin.disconnect();
  }
}

function outboxRun(databaseUrl: string, messages: number, dedupe: boolean): Promise<number> {
  return withSeededOutbox(databaseUrl, messages, async (store) => {
    return await withNamespace(async (ns) => {
      const sender = redisSender({ url: REDIS_URL, streamPrefix: `${ns}:`, dedupePrefix: ns, dedupe });
      return drainThrough(store, sender, messages);
    });
  });
}

function rawRun(databaseUrl: string, messages: number): Promise<number> {
  return withSeededOutbox(databaseUrl, messages, async (store) => {
    // The same rows, read before the clock starts.
    const batch = await claimAll(store, messages);
    return await withNamespace(async (ns) => {
      const redis = new Redis(REDIS_URL);
      const started = performance.now();
      for (let i = 0; i < batch.length; i += BATCH_SIZE) {
        const pipeline = redis.pipeline();
        for (const m of batch.slice(i, i + BATCH_SIZE))
          pipeline.xadd(`${ns}:${m.topic}`, '*', ...redisEntryFields(m));
        const replies = await pipeline.exec();
        if (replies?.some(([error]) => error)) throw new Error('raw XADD failed');
      }
      const seconds = (performance.now() - started) / 1000;
      redis.disconnect();
      return batch.length / seconds;
    });
  });
}

/** outbox → Redis Streams messages/s (relay + redisSender with its dedupe script, batch 500) beside pipelined bare XADDs. */
export async function bench(options: {
  messages: number;
  databaseUrl: string;
  runs: number;
}): Promise<{ broker: string; messages: number; outboxPerSec: number; rawPerSec: number }> {
  return brokerRow(
    'Redis Streams (XADD pipelined per 500, dedupe script)',
    options,
    () => outboxRun(options.databaseUrl, options.messages, true),
    () => rawRun(options.databaseUrl, options.messages),
  );
}
