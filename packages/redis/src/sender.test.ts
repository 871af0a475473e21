import { randomBytes } from 'node:crypto';
import {
  createOutbox,
  createRelay,
  isOutboxError,
  type NewMessage,
  type Outbox,
  pgClient,
  pgPool,
  postgres,
  SqlMessageStore,
} from '@troutbox/core';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { type RedisLike, redisSender } from './index.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const signal = new AbortController().signal;

const unique = (prefix: string) => `${prefix}_${randomBytes(5).toString('hex')}`;

async function waitFor<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs = 10_000, what = 'condition', everyMs = 15 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

let pool: pg.Pool;
let admin: Redis;
const schemas: string[] = [];
const namespaces: string[] = [];

beforeAll(async () => {
  pool = new pg.Pool({ connectionString: DATABASE_URL, max: 8 });
  admin = new Redis(REDIS_URL);
});

afterAll(async () => {
  for (const ns of namespaces) {
    let cursor = '0';
    do {
      const [next, keys] = await admin.scan(cursor, 'MATCH', `${ns}*`, 'COUNT', 1000);
      if (keys.length > 0) await admin.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  }
  for (const schema of schemas) await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  admin?.disconnect();
  await pool?.end();
});

/** A fresh outbox table in its own schema, and a key namespace of its own in Redis. */
async function setup() {
  const schema = unique('t_redis');
  schemas.push(schema);
  await pool.query(`CREATE SCHEMA "${schema}"`);
  const dialect = postgres({ schema });
  const store = new SqlMessageStore({ dialect, db: pgPool(pool) });
  await store.migrate();
  const outbox = createOutbox({ dialect });
  const ns = unique('troutbox_test');
  namespaces.push(ns);
  return { schema, store, outbox, ns, streamPrefix: `${ns}:s:` };
}

async function addCommitted(outbox: Outbox, messages: NewMessage | NewMessage[]) {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await outbox.add(pgClient(client), messages);
    await client.query('COMMIT');
  } finally {
    client.release();
  }
}

type Entry = [id: Buffer, fields: Buffer[]];

function fieldsOf(entry: Entry): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (let i = 0; i < entry[1].length; i += 2) out[entry[1][i]!.toString()] = entry[1][i + 1]!;
  return out;
}

async function idsInStream(stream: string): Promise<string[]> {
  const entries = (await admin.xrangeBuffer(stream, '-', '+')) as unknown as Entry[];
  return entries.map((e) => fieldsOf(e).id!.toString());
}

const quickRetry = { initialDelayMs: 1, factor: 1, maxDelayMs: 1, jitter: 0 };

describe('redisSender', () => {
  it('accepts an ioredis client by its shape', () => {
    expectTypeOf<Redis>().toExtend<RedisLike>();
  });

  it('delivers from outbox.add in a PostgreSQL transaction to a stream consumer group', async () => {
    const { schema, store, outbox, streamPrefix, ns } = await setup();
    const orders = `${streamPrefix}orders`;
    const audit = `${streamPrefix}audit`;
    for (const stream of [orders, audit]) await admin.xgroup('CREATE', stream, 'app', '$', 'MKSTREAM');
    await addCommitted(outbox, [
      {
        topic: 'orders',
        key: 'order-1',
        payload: { type: 'OrderPlaced', total: 42 },
        headers: { traceparent: TRACEPARENT, tenant: 'acme' },
      },
      { topic: 'audit', payload: new Uint8Array([0, 1, 2, 255]) },
    ]);
    const client = await pool.connect();
    await client.query('BEGIN');
    await outbox.add(pgClient(client), { topic: 'orders', payload: 'rolled back' });
    await client.query('ROLLBACK');
    client.release();

    const sender = redisSender({ url: REDIS_URL, streamPrefix, dedupePrefix: ns });
    const relay = createRelay({ store, sender });
    expect(await relay.runOnce()).toMatchObject({ sent: 2, retried: 0, dead: 0 });
    await sender.close();

    const ids = (await pool.query(`SELECT id::text FROM "${schema}".outbox_messages ORDER BY id`)).rows as {
      id: string;
    }[];
    expect(ids).toHaveLength(2);
    const read = (await admin.xreadgroupBuffer(
      'GROUP',
      'app',
      'consumer-1',
      'COUNT',
      10,
      'STREAMS',
      orders,
      audit,
      '>',
      '>',
    )) as unknown as [Buffer, Entry[]][];
    const byStream = new Map(read.map(([name, entries]) => [name.toString(), entries.map(fieldsOf)]));
    const [order] = byStream.get(orders)!;
    expect(byStream.get(orders)).toHaveLength(1);
    expect(order!.id!.toString()).toBe(ids[0]!.id);
    expect(order!.topic!.toString()).toBe('orders');
    expect(order!.key!.toString()).toBe('order-1');
    expect(JSON.parse(order!.payload!.toString())).toEqual({ type: 'OrderPlaced', total: 42 });
    expect(order!['content-type']!.toString()).toBe('application/json');
    expect(JSON.parse(order!.headers!.toString())).toEqual({ traceparent: TRACEPARENT, tenant: 'acme' });
    const [bytes] = byStream.get(audit)!;
    expect(bytes!.id!.toString()).toBe(ids[1]!.id);
    expect(bytes!.key).toBeUndefined();
    expect([...bytes!.payload!]).toEqual([0, 1, 2, 255]);
    expect(bytes!['content-type']!.toString()).toBe('application/octet-stream');
    expect((await store.stats()).sent).toBe(2);
  });

  it('does not add a second entry when a batch is sent again after a relay crash', async () => {
    const { store, outbox, streamPrefix, ns } = await setup();
    const stream = `${streamPrefix}crash`;
    await addCommitted(
      outbox,
      Array.from({ length: 50 }, (_, i) => ({ topic: 'crash', payload: { i } })),
    );
    const sender = redisSender({ url: REDIS_URL, streamPrefix, dedupePrefix: ns });
    const crash = new Error('relay killed before commit');
    await expect(
      store.db.transaction(async (tx) => {
        const batch = await store.claim(tx, 100);
        const results = await sender.send(batch, { signal });
        expect(results.every((r) => r.status === 'sent')).toBe(true);
        throw crash;
      }),
    ).rejects.toBe(crash);
    expect(await admin.xlen(stream)).toBe(50);
    expect((await store.stats()).pending).toBe(50);

    const relay = createRelay({ store, sender, batchSize: 100 });
    expect(await relay.runOnce()).toMatchObject({ sent: 50, retried: 0, dead: 0 });
    expect(await admin.xlen(stream)).toBe(50);
    expect(new Set(await idsInStream(stream)).size).toBe(50);

    // Without dedupe, the same re-send doubles the entries: what the script prevents.
    const plain = redisSender({ url: REDIS_URL, streamPrefix, dedupe: false });
    const sentRows = await Promise.all((await idsInStream(stream)).map((id) => store.get(id)));
    const resend = await plain.send(
      sentRows.map((m) => m!),
      { signal },
    );
    expect(resend.every((r) => r.status === 'sent')).toBe(true);
    expect(await admin.xlen(stream)).toBe(100);
    await Promise.all([sender.close(), plain.close()]);
  });

  it('retries the messages of a connection killed mid-batch, and loses or doubles nothing', async () => {
    const { store, outbox, streamPrefix, ns } = await setup();
    const stream = `${streamPrefix}load`;
    const total = 1000;
    const blob = 'x'.repeat(32 * 1024);
    await addCommitted(
      outbox,
      Array.from({ length: total }, (_, i) => ({ topic: 'load', key: `k${i % 7}`, payload: { i, blob } })),
    );
    const connectionName = unique('troutbox_sender');
    const sender = redisSender({
      url: REDIS_URL,
      streamPrefix,
      dedupePrefix: ns,
      redisOptions: { connectionName },
    });
    const relay = createRelay({ store, sender, batchSize: total, backoff: quickRetry });
    const running = relay.runOnce({ maxBatches: 1 });
    // Kill the sender's connection from another one once the server has added part of the batch.
    await waitFor(async () => (await admin.xlen(stream)) > 0, { what: 'the first entries', everyMs: 0 });
    const clients = (await admin.client('LIST')) as string;
    const line = clients.split('\n').find((l) => l.includes(` name=${connectionName} `));
    const clientId = /\bid=(\d+)/.exec(line ?? '')?.[1];
    expect(clientId).toBeDefined();
    expect(await admin.client('KILL', 'ID', clientId!)).toBe(1);
    const first = await running;
    expect(first.sent + first.retried).toBe(total);
    expect(first.retried).toBeGreaterThan(0);
    expect(first.dead).toBe(0);

    await relay.start();
    await waitFor(async () => (await store.stats()).sent === total, { what: 'every message sent' });
    await relay.stop();
    await sender.close();
    expect(await admin.xlen(stream)).toBe(total);
    expect(new Set(await idsInStream(stream)).size).toBe(total);
  });

  it('turns refused messages into failures, never successes', async () => {
    const { schema, store, outbox, streamPrefix, ns } = await setup();
    await admin.set(`${streamPrefix}not-a-stream`, 'a string');
    await addCommitted(outbox, [
      { topic: 'fine', payload: 1 },
      { topic: 'not-a-stream', payload: 2 },
      { topic: 'unmapped', payload: 3 },
    ]);
    const sender = redisSender({
      url: REDIS_URL,
      dedupePrefix: ns,
      stream: (m) => (m.topic === 'unmapped' ? '' : streamPrefix + m.topic),
    });
    const relay = createRelay({ store, sender });
    expect(await relay.runOnce()).toMatchObject({ sent: 1, retried: 0, dead: 2 });
    const rows = (await pool.query(`SELECT id::text, topic FROM "${schema}".outbox_messages ORDER BY id`))
      .rows as { id: string; topic: string }[];
    const byTopic = async (topic: string) => (await store.get(rows.find((r) => r.topic === topic)!.id))!;
    expect((await byTopic('fine')).status).toBe('sent');
    expect((await byTopic('not-a-stream')).status).toBe('dead');
    expect((await byTopic('not-a-stream')).lastError).toMatch(/WRONGTYPE/);
    expect((await byTopic('unmapped')).status).toBe('dead');
    expect(await admin.xlen(`${streamPrefix}fine`)).toBe(1);
    await sender.close();
  });

  it('loads its script again after the server forgot it', async () => {
    const { store, outbox, streamPrefix, ns } = await setup();
    await addCommitted(outbox, [
      { topic: 'a', payload: 1 },
      { topic: 'b', payload: 2 },
    ]);
    const sender = redisSender({ url: REDIS_URL, streamPrefix, dedupePrefix: ns });
    await admin.script('FLUSH');
    const relay = createRelay({ store, sender });
    expect(await relay.runOnce()).toMatchObject({ sent: 2, retried: 0, dead: 0 });
    expect(await admin.xlen(`${streamPrefix}a`)).toBe(1);
    await sender.close();
  });

  it('trims streams with maxLen', async () => {
    const { store, outbox, streamPrefix, ns } = await setup();
    await addCommitted(
      outbox,
      Array.from({ length: 1000 }, (_, i) => ({ topic: 'trimmed', payload: i })),
    );
    const sender = redisSender({ url: REDIS_URL, streamPrefix, dedupePrefix: ns, maxLen: 100 });
    const relay = createRelay({ store, sender, batchSize: 500 });
    expect(await relay.runOnce()).toMatchObject({ sent: 1000 });
    const length = await admin.xlen(`${streamPrefix}trimmed`);
    // `~` trims whole macro nodes (100 entries by default), so a little more than 100 remain.
    expect(length).toBeGreaterThanOrEqual(100);
    expect(length).toBeLessThan(300);
    await sender.close();
  });

  it('leaves a client it was given open, and re-opens one it owns after close()', async () => {
    const { store, outbox, streamPrefix, ns } = await setup();
    await addCommitted(outbox, { topic: 'x', payload: 1 });
    const mine = new Redis(REDIS_URL);
    const given = redisSender({ redis: mine, streamPrefix, dedupePrefix: ns });
    const [message] = await store.db.transaction((tx) => store.claim(tx, 1));
    expect((await given.send([message!], { signal }))[0]!.status).toBe('sent');
    await given.close();
    expect(await mine.ping()).toBe('PONG');
    mine.disconnect();

    const owned = redisSender({ url: REDIS_URL, streamPrefix, dedupePrefix: `${ns}_b` });
    expect((await owned.send([message!], { signal }))[0]!.status).toBe('sent');
    const firstClient = owned.redis;
    await owned.close();
    expect((await owned.send([message!], { signal }))[0]!.status).toBe('sent');
    expect(owned.redis).not.toBe(firstClient);
    await owned.close();
    expect(await admin.xlen(`${streamPrefix}x`)).toBe(2);
  });

  it('rejects bad options with INVALID_OPTION before connecting', () => {
    const bad = [
      { maxLen: 0 },
      { dedupeTtlMs: -1 },
      { stream: (m: { topic: string }) => m.topic, streamPrefix: 'x:' },
      { redis: { nope: true } },
      { redis: new Redis({ lazyConnect: true }), url: REDIS_URL },
      { dedupe: 'yes' },
      { dedupePrefix: '' },
    ];
    for (const options of bad) {
      let error: unknown;
      try {
        redisSender(options as never);
      } catch (e) {
        error = e;
      }
      expect(isOutboxError(error, 'INVALID_OPTION'), Object.keys(options).join()).toBe(true);
    }
  });
});
