// outbox → Redis Streams against a bare ioredis client XADDing the same messages, both one
// pipeline of 500 at a time, awaiting every reply.
import { createRelay } from '@troutbox/core';
import { redisEntryFields, redisSender } from '@troutbox/redis';
import { Redis } from 'ioredis';
import pg from 'pg';
import { seed } from '../drain.js';
import { median, until } from '../util.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const BATCH_SIZE = 500;

function newPool(databaseUrl: string, max: number): pg.Pool {
  const pool = new pg.Pool({ connectionString: databaseUrl, max });
  pool.on('error', () => {});
  return pool;
}

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

async function outboxRun(databaseUrl: string, messages: number, dedupe: boolean): Promise<number> {
  const pool = newPool(databaseUrl, 4);
  const { schema, store } = await seed(pool, messages);
  try {
    return await withNamespace(async (ns) => {
      const sender = redisSender({ url: REDIS_URL, streamPrefix: `${ns}:`, dedupePrefix: ns, dedupe });
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
    const batch = await store.db.transaction((tx) => store.claim(tx, messages));
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
  } finally {
    await pool.query(`DROP SCHEMA "${schema}" CASCADE`);
    await pool.end();
  }
}

/** outbox → Redis Streams messages/s (relay + redisSender with its dedupe script, batch 500) beside pipelined bare XADDs. */
export async function bench(options: {
  messages: number;
  databaseUrl: string;
  runs: number;
}): Promise<{ broker: string; messages: number; outboxPerSec: number; rawPerSec: number }> {
  const outbox: number[] = [];
  const raw: number[] = [];
  for (let run = 0; run < options.runs; run++) {
    outbox.push(await outboxRun(options.databaseUrl, options.messages, true));
    raw.push(await rawRun(options.databaseUrl, options.messages));
  }
  return {
    broker: 'Redis Streams (XADD pipelined per 500, dedupe script)',
    messages: options.messages,
    outboxPerSec: median(outbox),
    rawPerSec: median(raw),
  };
}
