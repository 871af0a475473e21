import { randomBytes } from 'node:crypto';
import { type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  createOutbox,
  createRelay,
  isOutboxError,
  type NewMessage,
  type Outbox,
  pgClient,
  pgPool,
  postgres,
  type Sender,
  SqlMessageStore,
} from '@troutbox/core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { type NatsConnectionLike, natsSender } from './index.js';

const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

const unique = (prefix: string) => `${prefix}_${randomBytes(5).toString('hex')}`;

async function waitFor<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs = 10_000, what = 'condition' } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 15));
  }
}

let pool: pg.Pool;
let nc: NatsConnection;
let jsm: JetStreamManager;
const schemas: string[] = [];
const streams: string[] = [];

beforeAll(async () => {
  pool = new pg.Pool({ connectionString: DATABASE_URL, max: 8 });
  nc = await connect({ servers: NATS_URL });
  jsm = await jetstreamManager(nc);
});

afterAll(async () => {
  for (const stream of streams) await jsm.streams.delete(stream).catch(() => {});
  for (const schema of schemas) await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await nc?.close();
  await pool?.end();
});

/** A fresh outbox table in its own schema, and a stream of its own bound to `<prefix>.>`. */
async function setup(streamConfig: { max_msg_size?: number } = {}) {
  const schema = unique('t_nats');
  schemas.push(schema);
  await pool.query(`CREATE SCHEMA "${schema}"`);
  const dialect = postgres({ schema });
  const store = new SqlMessageStore({ dialect, db: pgPool(pool) });
  await store.migrate();
  const outbox = createOutbox({ dialect });
  const stream = unique('S').toUpperCase();
  const prefix = unique('troutbox');
  streams.push(stream);
  await jsm.streams.add({ name: stream, subjects: [`${prefix}.>`], ...streamConfig });
  return { schema, store, outbox, stream, prefix };
}

/** Write messages in a committed PostgreSQL transaction, as application code would. */
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

async function streamCount(stream: string): Promise<number> {
  return (await jsm.streams.info(stream)).state.messages;
}

async function msgIdsInStream(stream: string): Promise<string[]> {
  const info = await jsm.streams.info(stream);
  const ids: string[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq });
    if (m) ids.push(m.header.get('Nats-Msg-Id'));
  }
  return ids;
}

const quickRetry = { initialDelayMs: 1, factor: 1, maxDelayMs: 1, jitter: 0 };

describe('natsSender', () => {
  it('accepts a NatsConnection by its shape', () => {
    expectTypeOf<NatsConnection>().toExtend<NatsConnectionLike>();
  });

  it('delivers from outbox.add in a PostgreSQL transaction to a JetStream consumer', async () => {
    const { schema, store, outbox, stream, prefix } = await setup();
    await addCommitted(outbox, [
      {
        topic: 'orders',
        key: 'order-1',
        payload: { type: 'OrderPlaced', total: 42 },
        headers: { traceparent: TRACEPARENT, tenant: 'acme' },
      },
      { topic: 'audit', payload: new Uint8Array([0, 1, 2, 255]) },
    ]);
    // A rolled-back transaction's message is never sent.
    const client = await pool.connect();
    await client.query('BEGIN');
    await outbox.add(pgClient(client), { topic: 'orders', payload: 'rolled back' });
    await client.query('ROLLBACK');
    client.release();

    const sender = natsSender({ servers: NATS_URL, subjectPrefix: `${prefix}.` });
    const relay = createRelay({ store, sender });
    const summary = await relay.runOnce();
    await sender.close();
    expect(summary).toMatchObject({ sent: 2, retried: 0, dead: 0 });

    const consumer = await jetstream(nc).consumers.get(stream);
    const received = await consumer.fetch({ max_messages: 2, expires: 5000 });
    const got: { subject: string; data: Uint8Array; headers: Record<string, string> }[] = [];
    for await (const m of received) {
      const headers: Record<string, string> = {};
      for (const k of m.headers?.keys() ?? []) headers[k] = m.headers!.get(k);
      got.push({ subject: m.subject, data: m.data, headers });
      if (got.length === 2) break;
    }
    const ids = (await pool.query(`SELECT id::text FROM "${schema}".outbox_messages ORDER BY id`)).rows as {
      id: string;
    }[];
    expect(ids).toHaveLength(2);
    const [order, audit] = got;
    expect(order!.subject).toBe(`${prefix}.orders`);
    expect(JSON.parse(new TextDecoder().decode(order!.data))).toEqual({ type: 'OrderPlaced', total: 42 });
    expect(order!.headers).toMatchObject({
      traceparent: TRACEPARENT,
      tenant: 'acme',
      'outbox-id': ids[0]!.id,
      'outbox-topic': 'orders',
      'outbox-key': 'order-1',
      'content-type': 'application/json',
      'Nats-Msg-Id': ids[0]!.id,
    });
    expect(audit!.subject).toBe(`${prefix}.audit`);
    expect([...audit!.data]).toEqual([0, 1, 2, 255]);
    expect(audit!.headers['outbox-key']).toBeUndefined();
    expect(audit!.headers).toMatchObject({
      'outbox-id': ids[1]!.id,
      'content-type': 'application/octet-stream',
      'Nats-Msg-Id': ids[1]!.id,
    });
    expect((await store.stats()).sent).toBe(2);
  });

  it('retries the messages of a connection closed mid-batch, re-opens it, and loses or doubles nothing', async () => {
    const { store, outbox, stream, prefix } = await setup();
    const total = 300;
    await addCommitted(
      outbox,
      Array.from({ length: total }, (_, i) => ({ topic: 'load', key: `k${i % 7}`, payload: { i } })),
    );
    const opened: NatsConnection[] = [];
    let acks = 0;
    // The first connection closes itself when its 25th PubAck arrives, with the rest of the
    // batch published and awaiting theirs: the stream may hold them, the sender cannot know.
    const sender = natsSender({
      subjectPrefix: `${prefix}.`,
      connection: async () => {
        const real = await connect({ servers: NATS_URL });
        opened.push(real);
        if (opened.length > 1) return real;
        return new Proxy(real, {
          get(target, prop) {
            if (prop === 'request') {
              return (subject: string, payload: unknown, opts: unknown) => {
                const reply = target.request(subject, payload as Uint8Array, opts as never);
                reply.then(
                  () => {
                    if (++acks === 25) void target.close();
                  },
                  () => {},
                );
                return reply;
              };
            }
            const value = Reflect.get(target, prop, target);
            return typeof value === 'function' ? value.bind(target) : value;
          },
        }) as NatsConnectionLike;
      },
    });
    const relay = createRelay({ store, sender, batchSize: total, backoff: quickRetry });
    const first = await relay.runOnce({ maxBatches: 1 });
    expect(first.sent).toBeGreaterThanOrEqual(25);
    expect(first.retried).toBeGreaterThan(0);
    expect(first.sent + first.retried).toBe(total);
    expect(opened[0]!.isClosed()).toBe(true);

    await relay.start();
    await waitFor(async () => (await store.stats()).sent === total, { what: 'every message sent' });
    await relay.stop();
    await sender.close();

    expect(opened.length).toBe(2);
    expect(opened[1]!.isClosed()).toBe(true);
    // Re-sent messages the stream already held were dropped by their Nats-Msg-Id.
    expect(await streamCount(stream)).toBe(total);
    const ids = await msgIdsInStream(stream);
    expect(new Set(ids).size).toBe(total);
    expect((await store.stats()).dead).toBe(0);
  });

  it('deduplicates a batch sent again after a relay crash before its commit', async () => {
    const { store, outbox, stream, prefix } = await setup();
    await addCommitted(
      outbox,
      Array.from({ length: 50 }, (_, i) => ({ topic: 'crash', payload: { i } })),
    );
    const sender = natsSender({ servers: NATS_URL, subjectPrefix: `${prefix}.` });
    // The relay sends, then dies before recording anything: the claim rolls back.
    const crash = new Error('relay killed before commit');
    await expect(
      store.db.transaction(async (tx) => {
        const batch = await store.claim(tx, 100);
        expect(batch).toHaveLength(50);
        const results = await sender.send(batch, { signal: new AbortController().signal });
        expect(results.every((r) => r.status === 'sent')).toBe(true);
        throw crash;
      }),
    ).rejects.toBe(crash);
    expect(await streamCount(stream)).toBe(50);
    expect((await store.stats()).pending).toBe(50);

    // The next relay sends the same ids again; the stream drops them and acknowledges.
    const relay = createRelay({ store, sender, batchSize: 100 });
    expect(await relay.runOnce()).toMatchObject({ sent: 50, retried: 0, dead: 0 });
    await sender.close();
    expect(await streamCount(stream)).toBe(50);
    expect((await store.stats()).sent).toBe(50);
  });

  it('turns refused and unroutable messages into failures, never successes', async () => {
    const { schema, store, outbox, stream, prefix } = await setup({ max_msg_size: 1024 });
    await addCommitted(outbox, [
      { topic: 'ok', payload: { small: true } },
      { topic: 'big', payload: { blob: 'x'.repeat(4000) } },
      { topic: 'bad topic', payload: 1 },
    ]);
    // A subject outside the stream's subjects: no stream answers.
    await addCommitted(outbox, { topic: 'unbound', payload: 2 });
    const ids = (await pool.query(`SELECT id::text, topic FROM "${schema}".outbox_messages ORDER BY id`))
      .rows as { id: string; topic: string }[];
    const idOf = (topic: string) => ids.find((r) => r.topic === topic)!.id;

    const sender = natsSender({
      servers: NATS_URL,
      subject: (m) => (m.topic === 'unbound' ? `${prefix}_elsewhere.${m.topic}` : `${prefix}.${m.topic}`),
    });
    const relay = createRelay({ store, sender, backoff: { initialDelayMs: 60_000 } });
    expect(await relay.runOnce()).toMatchObject({ sent: 1, retried: 1, dead: 2 });

    expect((await store.get(idOf('ok')))!.status).toBe('sent');
    const big = (await store.get(idOf('big')))!;
    expect(big.status).toBe('dead');
    expect(big.lastError).toMatch(/message size exceeds maximum allowed/);
    const bad = (await store.get(idOf('bad topic')))!;
    expect(bad.status).toBe('dead');
    expect(bad.lastError).toMatch(/not a subject one can publish to/);
    const unbound = (await store.get(idOf('unbound')))!;
    expect(unbound.status).toBe('pending');
    expect(unbound.attempts).toBe(1);
    expect(unbound.lastError).toMatch(/no responders|not enabled/);
    expect(await streamCount(stream)).toBe(1);

    // With noStream: 'dead' an unbound subject is a dead letter at once.
    const strict = natsSender({ servers: NATS_URL, subjectPrefix: `${prefix}_elsewhere.`, noStream: 'dead' });
    const [result] = await strict.send([(await store.get(idOf('unbound')))!], {
      signal: new AbortController().signal,
    });
    expect(result!.status).toBe('dead');
    await Promise.all([sender.close(), strict.close()]);
  });

  it('reports a message stored by another stream than expectStream as dead', async () => {
    const { schema, store, outbox, prefix } = await setup();
    await addCommitted(outbox, { topic: 'orders', payload: {} });
    const sender = natsSender({
      servers: NATS_URL,
      subjectPrefix: `${prefix}.`,
      expectStream: 'NOT_THIS_ONE',
    });
    const row = await pool.query(`SELECT id::text FROM "${schema}".outbox_messages`);
    const message = await store.get(row.rows[0].id);
    const [result] = await sender.send([message!], { signal: new AbortController().signal });
    await sender.close();
    expect(result!.status).toBe('dead');
    expect(String((result as { error: Error }).error.message)).toMatch(/expected stream does not match/);
  });

  it('retries, without re-opening it, when a connection it was given is closed', async () => {
    const { store, outbox, prefix } = await setup();
    await addCommitted(outbox, { topic: 'orders', payload: {} });
    const own = await connect({ servers: NATS_URL });
    const sender: Sender = natsSender({ connection: own, subjectPrefix: `${prefix}.` });
    await own.close();
    const relay = createRelay({ store, sender, backoff: { initialDelayMs: 60_000 } });
    expect(await relay.runOnce()).toMatchObject({ sent: 0, retried: 1 });
    await sender.close?.();
    expect(own.isClosed()).toBe(true);
  });

  it('rejects bad options with INVALID_OPTION before connecting', () => {
    const bad = [
      { concurrency: 0 },
      { subject: (m: { topic: string }) => m.topic, subjectPrefix: 'x.' },
      { noStream: 'drop' },
      { connection: { nope: true } },
      { servers: 42 },
      { expectStream: '' },
    ];
    for (const options of bad) {
      let error: unknown;
      try {
        natsSender(options as never);
      } catch (e) {
        error = e;
      }
      expect(isOutboxError(error, 'INVALID_OPTION'), JSON.stringify(options)).toBe(true);
    }
  });
});
