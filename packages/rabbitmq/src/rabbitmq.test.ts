import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  createOutbox,
  createRelay,
  type Outbox,
  type OutboxMessage,
  pgClient,
  pgPool,
  postgres,
  type RelayOptions,
  SqlMessageStore,
} from '@troutbox/core';
import amqp, { type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RabbitMqSender, rabbitmqSender, UnroutableError } from './index.js';

const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const run = promisify(execFile);

function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
}

/** Poll `check` until it returns a truthy value, or fail after the deadline. Never a fixed sleep. */
async function waitFor<T>(check: () => T | Promise<T>, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 15));
  }
}

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

let pool: pg.Pool;
let admin: ChannelModel;
let adminChannel: Channel;
const schemas: string[] = [];
const exchanges: string[] = [];
const queues: string[] = [];
const senders: RabbitMqSender[] = [];

beforeAll(async () => {
  pool = new pg.Pool({ connectionString: DATABASE_URL, max: 6 });
  pool.on('error', () => {});
  admin = await amqp.connect(AMQP_URL);
  admin.on('error', () => {});
  adminChannel = await admin.createChannel();
  adminChannel.on('error', () => {});
});

afterAll(async () => {
  for (const s of senders) await s.close();
  for (const q of queues) await adminChannel.deleteQueue(q);
  for (const e of exchanges) await adminChannel.deleteExchange(e);
  await admin.close();
  for (const s of schemas) await pool.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  await pool.end();
});

/** A fresh outbox table in its own schema. */
async function freshOutbox(): Promise<{ store: SqlMessageStore; outbox: Outbox; schema: string }> {
  const schema = uniqueName('t_rmq');
  schemas.push(schema);
  const dialect = postgres({ schema });
  const store = new SqlMessageStore({ dialect, db: pgPool(pool) });
  await store.migrate();
  return { store, outbox: createOutbox({ dialect }), schema };
}

/** A topic exchange and a queue bound to it with `pattern`, deleted after the suite. */
async function freshExchange(pattern = '#', channel: Channel = adminChannel) {
  const exchange = uniqueName('tx_rmq');
  const queue = uniqueName('tq_rmq');
  await channel.assertExchange(exchange, 'topic', { durable: false, autoDelete: false });
  await channel.assertQueue(queue, { durable: true });
  await channel.bindQueue(queue, exchange, pattern);
  if (channel === adminChannel) {
    exchanges.push(exchange);
    queues.push(queue);
  }
  return { exchange, queue };
}

/** Consume `queue` into an array (auto-ack). */
async function collect(queue: string, channel: Channel = adminChannel): Promise<ConsumeMessage[]> {
  const received: ConsumeMessage[] = [];
  await channel.consume(queue, (m) => m && received.push(m), { noAck: true });
  return received;
}

function track(sender: RabbitMqSender): RabbitMqSender {
  senders.push(sender);
  return sender;
}

/** Add `count` messages in one committed PostgreSQL transaction. */
async function addMessages(outbox: Outbox, count: number, topic: (i: number) => string): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const messages = Array.from({ length: count }, (_, i) => ({
      topic: topic(i),
      key: `k${i % 7}`,
      payload: { n: i },
    }));
    for (let i = 0; i < messages.length; i += 1000) {
      await outbox.add(pgClient(client), messages.slice(i, i + 1000));
    }
    await client.query('COMMIT');
  } finally {
    client.release();
  }
}

async function statusCounts(
  store: SqlMessageStore,
): Promise<{ pending: number; sent: number; dead: number }> {
  const { pending, sent, dead } = await store.stats();
  return { pending, sent, dead };
}

const fastRetry: Partial<RelayOptions> = {
  batchSize: 200,
  pollIntervalMs: 20,
  backoff: { initialDelayMs: 10, maxDelayMs: 50, factor: 2, jitter: 0.5 },
  maxAttempts: 50,
};

describe('rabbitmqSender end to end from a PostgreSQL transaction', () => {
  it('delivers body, routing key, headers, messageId and properties; never a rolled-back message', async () => {
    const { store, outbox } = await freshOutbox();
    const { exchange, queue } = await freshExchange('orders.#');
    const received = await collect(queue);

    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await outbox.add(pgClient(client), [
        {
          topic: 'orders.placed',
          key: 'order-1',
          payload: { type: 'OrderPlaced', id: 1, total: 42.5 },
          headers: { traceparent: TRACEPARENT, 'x-tenant': 'acme' },
        },
        { topic: 'orders.binary', payload: new Uint8Array([0, 1, 2, 254, 255]) },
      ]);
      await client.query('COMMIT');
      await client.query('BEGIN');
      await outbox.add(pgClient(client), { topic: 'orders.rolled-back', payload: { never: true } });
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }

    const sender = track(rabbitmqSender({ url: AMQP_URL, exchange, appId: 'troutbox-test' }));
    const relay = createRelay({ store, sender, batchSize: 500 });
    const summary = await relay.runOnce();
    expect(summary).toMatchObject({ sent: 2, retried: 0, dead: 0 });

    await waitFor(() => received.length >= 2, 'two deliveries');
    const byKey = new Map(received.map((m) => [m.fields.routingKey, m]));
    expect(byKey.size).toBe(2);
    const placed = byKey.get('orders.placed')!;
    expect(JSON.parse(placed.content.toString('utf8'))).toEqual({ type: 'OrderPlaced', id: 1, total: 42.5 });
    expect(placed.fields.exchange).toBe(exchange);
    expect(placed.properties.contentType).toBe('application/json');
    expect(placed.properties.deliveryMode).toBe(2);
    expect(placed.properties.appId).toBe('troutbox-test');
    expect(placed.properties.headers).toMatchObject({
      traceparent: TRACEPARENT,
      'x-tenant': 'acme',
      'outbox-key': 'order-1',
      'outbox-attempts': 0,
      'outbox-topic': 'orders.placed',
    });
    const placedRow = await store.get(placed.properties.messageId);
    expect(placedRow).toMatchObject({ topic: 'orders.placed', key: 'order-1', status: 'sent' });
    // AMQP timestamps have second precision.
    expect(placed.properties.timestamp).toBe(Math.floor(placedRow!.createdAt.getTime() / 1000));

    const binary = byKey.get('orders.binary')!;
    expect([...binary.content]).toEqual([0, 1, 2, 254, 255]);
    expect(binary.properties.contentType).toBe('application/octet-stream');
    expect(binary.properties.headers?.['outbox-key']).toBeUndefined();
    expect((await store.get(binary.properties.messageId))?.status).toBe('sent');

    expect(await store.stats()).toMatchObject({ pending: 0, dead: 0 });
    expect(received.some((m) => m.fields.routingKey === 'orders.rolled-back')).toBe(false);
  });

  it('routes with a route function and asserts its topology on connect', async () => {
    const { store, outbox } = await freshOutbox();
    const exchange = uniqueName('tx_rmq');
    const queue = uniqueName('tq_rmq');
    exchanges.push(exchange);
    queues.push(queue);
    await addMessages(outbox, 3, (i) => `billing.invoice.${i}`);
    const sender = track(
      rabbitmqSender({
        url: AMQP_URL,
        route: (m) => ({ exchange, routingKey: m.topic.replace('billing.', 'b.') }),
        topology: {
          exchanges: [{ name: exchange, type: 'direct', options: { durable: false } }],
          queues: [{ name: queue }],
          bindings: [0, 1, 2].map((i) => ({ queue, exchange, routingKey: `b.invoice.${i}` })),
        },
      }),
    );
    const summary = await createRelay({ store, sender }).runOnce();
    expect(summary).toMatchObject({ sent: 3, dead: 0, retried: 0 });
    const received = await collect(queue);
    await waitFor(() => received.length === 3, 'three deliveries');
    expect(received.map((m) => m.fields.routingKey).sort()).toEqual([
      'b.invoice.0',
      'b.invoice.1',
      'b.invoice.2',
    ]);
  });

  it('reports unroutable messages as dead letters, not successes, and still sends the rest', async () => {
    const { store, outbox } = await freshOutbox();
    const { exchange, queue } = await freshExchange('orders.#');
    const received = await collect(queue);
    await addMessages(outbox, 40, (i) => (i % 4 === 0 ? `nowhere.${i}` : `orders.${i}`));

    const sender = track(rabbitmqSender({ url: AMQP_URL, exchange }));
    const deadErrors: unknown[] = [];
    const relay = createRelay({ store, sender, batchSize: 500 });
    relay.on('dead', ({ error }) => deadErrors.push(error));
    const summary = await relay.runOnce();
    expect(summary).toMatchObject({ sent: 30, dead: 10, retried: 0 });

    const dead = await store.deadLetters({ limit: 100 });
    expect(dead).toHaveLength(10);
    for (const d of dead) {
      expect(d.topic).toMatch(/^nowhere\./);
      expect(d.lastError).toMatch(/unroutable: 312 NO_ROUTE/);
    }
    expect(deadErrors.every((e) => e instanceof UnroutableError && e.replyCode === 312)).toBe(true);
    await waitFor(() => received.length === 30, '30 routable deliveries');
    expect(received.every((m) => m.fields.routingKey.startsWith('orders.'))).toBe(true);
  });

  it("reports unroutable messages as retries with unroutable: 'retry'", async () => {
    const { store, outbox } = await freshOutbox();
    const { exchange } = await freshExchange('orders.#');
    await addMessages(outbox, 2, (i) => `nowhere.${i}`);
    const sender = track(rabbitmqSender({ url: AMQP_URL, exchange, unroutable: 'retry' }));
    const summary = await createRelay({ store, sender, backoff: { initialDelayMs: 60_000 } }).runOnce();
    expect(summary).toMatchObject({ sent: 0, retried: 2, dead: 0 });
    const stats = await store.stats();
    expect(stats).toMatchObject({ pending: 2, dead: 0 });
  });

  it('retries messages for missing exchanges without disturbing the rest of the batch', async () => {
    const { store, outbox } = await freshOutbox();
    const { exchange, queue } = await freshExchange('#');
    const received = await collect(queue);
    const missing = [uniqueName('tx_missing'), uniqueName('tx_missing')];
    await addMessages(outbox, 30, (i) => ['ok', 'lost0', 'lost1'][i % 3]!);
    const sender = track(
      rabbitmqSender({
        url: AMQP_URL,
        route: (m) => ({
          exchange: m.topic === 'ok' ? exchange : missing[Number(m.topic.slice(-1))]!,
          routingKey: m.topic,
        }),
      }),
    );
    const errors: unknown[] = [];
    const relay = createRelay({ store, sender, backoff: { initialDelayMs: 60_000 } });
    relay.on('retry', ({ error }) => errors.push(error));
    expect(await relay.runOnce()).toMatchObject({ sent: 10, retried: 20, dead: 0 });
    for (const name of missing) {
      expect(errors.filter((e) => String(e).includes(`exchange '${name}' does not exist`))).toHaveLength(10);
    }
    await waitFor(() => received.length === 10, '10 deliveries');
    // The checks ran on a side channel: the confirm channel survived.
    expect(sender.connections).toBe(1);
  });

  it("makes messages for a missing exchange dead with missingExchange: 'dead'", async () => {
    const { store, outbox } = await freshOutbox();
    await addMessages(outbox, 3, () => 'anything');
    const sender = track(
      rabbitmqSender({ url: AMQP_URL, exchange: uniqueName('tx_missing'), missingExchange: 'dead' }),
    );
    expect(await createRelay({ store, sender }).runOnce()).toMatchObject({ sent: 0, dead: 3 });
  });

  it('makes a message dead when the route function throws', async () => {
    const { store, outbox } = await freshOutbox();
    await addMessages(outbox, 2, (i) => `t.${i}`);
    const sender = track(
      rabbitmqSender({
        url: AMQP_URL,
        route: (m) => {
          if (m.topic === 't.1') throw new Error('no route for t.1');
          return { exchange: '', routingKey: uniqueName('no_such_queue') };
        },
      }),
    );
    const summary = await createRelay({ store, sender }).runOnce();
    // t.0 goes to the default exchange with no such queue: returned, so dead too.
    expect(summary).toMatchObject({ sent: 0, dead: 2 });
    const byTopic = new Map((await store.deadLetters()).map((d) => [d.topic, d.lastError]));
    expect(byTopic.get('t.1')).toContain('no route for t.1');
    expect(byTopic.get('t.0')).toContain('NO_ROUTE');
  });
});

describe('rabbitmqSender when the connection or channel is lost', () => {
  /**
   * Run a relay over `total` messages; on the `at`-th publish of the sender's second batch,
   * `interrupt` is called synchronously, in the middle of the batch.
   */
  async function interruptMidBatch(interrupt: (sender: RabbitMqSender) => void) {
    const total = 1000;
    const { store, outbox } = await freshOutbox();
    const { exchange, queue } = await freshExchange('#');
    const received = await collect(queue);
    await addMessages(outbox, total, (i) => `e.${i}`);
    const sender = track(rabbitmqSender({ url: AMQP_URL, exchange }));
    const relay = createRelay({ store, sender, ...fastRetry });
    const retried: string[] = [];
    const retryErrors: string[] = [];
    relay.on('retry', ({ message, error }) => {
      retried.push(message.id);
      retryErrors.push(String(error));
    });
    expect(await relay.runOnce({ maxBatches: 1 })).toMatchObject({ sent: 200 });

    const channel = sender.channel!;
    const publish = channel.publish.bind(channel);
    let calls = 0;
    channel.publish = (...args: Parameters<typeof channel.publish>) => {
      if (++calls === 50) interrupt(sender);
      return publish(...args);
    };

    await relay.start();
    try {
      await waitFor(async () => (await statusCounts(store)).sent === total, 'every message sent', 30_000);
    } finally {
      await relay.stop();
    }
    await waitFor(
      () => new Set(received.map((m) => m.properties.messageId)).size === total,
      'every delivery',
    );

    expect(calls).toBeGreaterThanOrEqual(50);
    expect(retried.length).toBeGreaterThan(0);
    expect(retryErrors.every((e) => /rabbitmq|closed/i.test(e))).toBe(true);
    expect(sender.connections).toBe(2);
    const ids = new Set(received.map((m) => m.properties.messageId));
    // Nothing lost; a message sent before the loss but not confirmed may arrive twice.
    expect(ids.size).toBe(total);
    expect(received.length).toBeGreaterThanOrEqual(total);
    expect(await statusCounts(store)).toEqual({ pending: 0, sent: total, dead: 0 });
    return { retried, received };
  }

  it('retries the unconfirmed messages of a batch whose socket died, reconnects and loses nothing', async () => {
    const errors: string[] = [];
    await interruptMidBatch((sender) => {
      // What a network failure looks like to amqplib: the socket errors out mid-publish.
      const stream = (sender.connection as unknown as { connection: { stream: NodeJS.ReadableStream } })
        .connection.stream as unknown as { destroy(error: Error): void };
      stream.destroy(new Error('simulated network failure'));
      errors.push('destroyed');
    });
    expect(errors).toEqual(['destroyed']);
  });

  it('retries the unconfirmed messages of a batch whose channel the broker closed, and loses nothing', async () => {
    await interruptMidBatch((sender) => {
      // Publishing to a missing exchange makes the broker close the channel (404) mid-batch.
      sender.channel!.publish(uniqueName('tx_none'), 'x', Buffer.from('poison'));
    });
  });

  it('reconnects after the broker closes the connection (rabbitmqctl close_all_connections)', async () => {
    const vhost = uniqueName('tv_rmq');
    await run('rabbitmqctl', ['-q', 'add_vhost', vhost]);
    try {
      await run('rabbitmqctl', ['-q', 'set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*']);
      const url = `${AMQP_URL}/${vhost}`;
      const total = 600;
      const { store, outbox } = await freshOutbox();
      await addMessages(outbox, total, (i) => `e.${i}`);
      const queue = uniqueName('tq_rmq');
      const inner = track(rabbitmqSender({ url, route: () => ({ exchange: '', routingKey: queue }) }));
      const setup = await amqp.connect(url);
      setup.on('error', () => {});
      const setupChannel = await setup.createChannel();
      await setupChannel.assertQueue(queue, { durable: true });
      await setup.close();

      let batches = 0;
      const killed: string[] = [];
      const sender = {
        name: 'rabbitmq-killed',
        async send(messages: readonly OutboxMessage[], context: { signal: AbortSignal }) {
          if (++batches === 2) {
            // The relay has claimed this batch; the broker drops the connection before it is published.
            const { stdout } = await run('rabbitmqctl', [
              '-q',
              'close_all_connections',
              '--vhost',
              vhost,
              'troutbox test: connection closed by the broker',
            ]);
            killed.push(stdout);
          }
          return inner.send(messages, context);
        },
      };
      const relay = createRelay({ store, sender, ...fastRetry, batchSize: 100 });
      await relay.start();
      try {
        await waitFor(async () => (await statusCounts(store)).sent === total, 'every message sent', 30_000);
      } finally {
        await relay.stop();
      }
      expect(killed).toHaveLength(1);
      expect(inner.connections).toBeGreaterThanOrEqual(2);

      const reader = await amqp.connect(url);
      reader.on('error', () => {});
      const readerChannel = await reader.createChannel();
      const received = await collect(queue, readerChannel);
      await waitFor(
        () => new Set(received.map((m) => m.properties.messageId)).size === total,
        'every delivery',
      );
      expect(new Set(received.map((m) => m.properties.messageId)).size).toBe(total);
      await reader.close();
    } finally {
      await run('rabbitmqctl', ['-q', 'delete_vhost', vhost]);
    }
  });

  it('fails a batch as retry while the broker is unreachable, and backs off reconnecting', async () => {
    const errors: unknown[] = [];
    const sender = track(
      rabbitmqSender({
        url: 'amqp://guest:guest@127.0.0.1:1',
        reconnectDelayMs: 60_000,
        maxReconnectDelayMs: 60_000,
        onError: (error, operation) => errors.push([operation, error]),
      }),
    );
    const message: OutboxMessage = {
      id: '1',
      topic: 'x',
      key: null,
      payload: new Uint8Array(),
      contentType: 'application/octet-stream',
      headers: {},
      createdAt: new Date(),
      attempts: 0,
    };
    const signal = new AbortController().signal;
    const first = await sender.send([message, { ...message, id: '2' }], { signal });
    expect(first.map((r) => r.status)).toEqual(['retry', 'retry']);
    const second = await sender.send([message], { signal });
    expect(second[0]).toMatchObject({ status: 'retry' });
    expect(String((second[0] as { error: unknown }).error)).toMatch(/not reconnecting for another/);
    // One connect attempt only: the second send was held off by the backoff.
    expect(errors).toHaveLength(1);
    expect(sender.connections).toBe(0);
  });

  it('honours the abort signal: unconfirmed messages are retried', async () => {
    const { exchange } = await freshExchange('#');
    const sender = track(rabbitmqSender({ url: AMQP_URL, exchange }));
    const controller = new AbortController();
    const reason = new Error('relay stopping');
    controller.abort(reason);
    const message: OutboxMessage = {
      id: '7',
      topic: 'x',
      key: null,
      payload: new Uint8Array([1]),
      contentType: 'application/octet-stream',
      headers: {},
      createdAt: new Date(),
      attempts: 0,
    };
    const results = await sender.send([message], { signal: controller.signal });
    expect(results).toEqual([{ status: 'retry', error: reason }]);

    // Aborted in the middle of publishing: what was not confirmed by then is retried.
    expect((await sender.send([message], { signal: new AbortController().signal }))[0]).toEqual({
      status: 'sent',
    });
    const live = new AbortController();
    const channel = sender.channel!;
    const publish = channel.publish.bind(channel);
    let calls = 0;
    channel.publish = (...args: Parameters<typeof channel.publish>) => {
      if (++calls === 1000) live.abort(reason);
      return publish(...args);
    };
    const late = await sender.send(
      Array.from({ length: 2000 }, (_, i) => ({ ...message, id: String(i) })),
      { signal: live.signal },
    );
    expect(calls).toBe(1000);
    expect(late).toHaveLength(2000);
    expect(late.slice(1000).every((r) => r.status === 'retry' && r.error === reason)).toBe(true);
    expect(late.every((r) => r.status === 'retry' || r.status === 'sent')).toBe(true);
  });

  it('close() closes the connection and later sends are retried without reconnecting', async () => {
    const { exchange } = await freshExchange('#');
    const sender = rabbitmqSender({ url: AMQP_URL, exchange });
    const message: OutboxMessage = {
      id: '9',
      topic: 'x',
      key: null,
      payload: new Uint8Array([1]),
      contentType: 'application/octet-stream',
      headers: {},
      createdAt: new Date(),
      attempts: 0,
    };
    const signal = new AbortController().signal;
    expect((await sender.send([message], { signal }))[0]).toEqual({ status: 'sent' });
    const connection = sender.connection!;
    const closed = new Promise<void>((resolve) => connection.once('close', () => resolve()));
    await sender.close();
    await closed;
    expect(sender.connection).toBeUndefined();
    const after = await sender.send([message], { signal });
    expect(after[0]).toMatchObject({ status: 'retry' });
    expect(sender.connections).toBe(1);
  });
});
