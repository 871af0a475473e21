import {
  createOutbox,
  createRelay,
  isOutboxError,
  type OutboxMessage,
  pgClient,
  pgPool,
  postgres,
  SqlMessageStore,
} from '@troutbox/core';
import kafkajs, {
  type Message,
  type ProducerConfig,
  type ProducerRecord,
  type RecordMetadata,
} from 'kafkajs';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { type KafkaProducerLike, type KafkaSenderOptions, kafkaErrorTypes, kafkaSender } from './index.js';

/**
 * A stand-in for a kafkajs Producer: no Kafka broker runs here, so the sender is tested against
 * the client's interface. `fail` decides, per produce request, which error kafkajs would throw.
 */
class FakeProducer implements KafkaProducerLike {
  readonly requests: ProducerRecord[] = [];
  connects = 0;
  disconnects = 0;
  idempotent = true;
  connectError: unknown;
  fail: (record: ProducerRecord) => unknown = () => undefined;
  /** When set, produce requests wait for it. */
  gate: Promise<void> | undefined;

  async connect(): Promise<void> {
    this.connects++;
    if (this.connectError) {
      const error = this.connectError;
      this.connectError = undefined;
      throw error;
    }
  }

  async disconnect(): Promise<void> {
    this.disconnects++;
  }

  isIdempotent(): boolean {
    return this.idempotent;
  }

  async send(record: ProducerRecord): Promise<RecordMetadata[]> {
    this.requests.push(record);
    await this.gate;
    const error = this.fail(record);
    if (error) throw error;
    return [
      { topicName: record.topic, partition: 0, errorCode: 0, baseOffset: String(this.requests.length) },
    ];
  }
}

/** The errors kafkajs throws, built with kafkajs's own classes, wrapped the way its retrier wraps them. */
function protocolError(type: string, code: number, retriable: boolean): Error {
  const { KafkaJSProtocolError } = kafkajs;
  return new KafkaJSProtocolError({
    type,
    code,
    retriable,
    message: `broker says ${type}`,
  } as unknown as Error);
}
function nonRetriable(cause: Error): Error {
  const Ctor = kafkajs.KafkaJSNonRetriableError as unknown as new (e: Error, o: { cause: Error }) => Error;
  return new Ctor(cause, { cause });
}
function retriesExceeded(cause: Error): Error {
  const Ctor = kafkajs.KafkaJSNumberOfRetriesExceeded as unknown as new (
    e: Error,
    o: { retryCount: number; retryTime: number; cause: Error },
  ) => Error;
  return new Ctor(cause, { retryCount: 5, retryTime: 1000, cause });
}
const tooLarge = () => nonRetriable(protocolError('MESSAGE_TOO_LARGE', 10, false));
const unknownTopic = () => retriesExceeded(protocolError('UNKNOWN_TOPIC_OR_PARTITION', 3, true));
const connectionLost = () =>
  retriesExceeded(
    new kafkajs.KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:9092'),
  );

let nextId = 1;
function message(overrides: Partial<OutboxMessage> = {}): OutboxMessage {
  const id = String(nextId++);
  return {
    id,
    topic: 'orders',
    key: `order-${id}`,
    payload: new TextEncoder().encode(JSON.stringify({ id })),
    contentType: 'application/json',
    headers: {},
    createdAt: new Date('2025-01-02T03:04:05.678Z'),
    attempts: 0,
    ...overrides,
  };
}

const context = () => ({ signal: new AbortController().signal });

function rejects(options: unknown, pattern: RegExp): void {
  let caught: unknown;
  try {
    kafkaSender(options as KafkaSenderOptions);
  } catch (error) {
    caught = error;
  }
  expect(isOutboxError(caught, 'INVALID_OPTION')).toBe(true);
  expect((caught as Error).message).toMatch(pattern);
}

describe('kafkaSender mapping', () => {
  it('produces one request per topic with acks -1, the key as message key, headers and bytes', async () => {
    const producer = new FakeProducer();
    const sender = kafkaSender({ producer, topicPrefix: 'app.' });
    const a = message({
      headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
    });
    const b = message({ topic: 'payments', key: null, attempts: 2 });
    const c = message({ payload: new Uint8Array([0, 255]), contentType: 'application/octet-stream' });
    const results = await sender.send([a, b, c], context());
    expect(results).toEqual([{ status: 'sent' }, { status: 'sent' }, { status: 'sent' }]);

    expect(producer.requests.map((r) => [r.topic, r.messages.length, r.acks])).toEqual([
      ['app.orders', 2, -1],
      ['app.payments', 1, -1],
    ]);
    const [first, third] = producer.requests[0]!.messages as [Message, Message];
    expect(first).toEqual({
      key: a.key,
      value: Buffer.from(a.payload),
      headers: {
        traceparent: a.headers.traceparent,
        'outbox-id': a.id,
        'outbox-attempts': '0',
        'content-type': 'application/json',
      },
      timestamp: String(Date.parse('2025-01-02T03:04:05.678Z')),
    });
    // Commit order within a topic is kept, so per-key order holds within a partition.
    expect(third.headers?.['outbox-id']).toBe(c.id);
    expect([...(third.value as Buffer)]).toEqual([0, 255]);
    const paid = producer.requests[1]!.messages[0]!;
    expect(paid.key).toBeNull();
    expect(paid.headers).toMatchObject({ 'outbox-id': b.id, 'outbox-attempts': '2' });
    // A producer passed in is the caller's: not connected or disconnected by the sender.
    await sender.close();
    expect(producer.connects).toBe(0);
    expect(producer.disconnects).toBe(0);
  });

  it('maps topics with a function and renames or drops the troutbox headers', async () => {
    const producer = new FakeProducer();
    const sender = kafkaSender({
      producer,
      topic: (m) => `${m.topic}-v2`,
      idHeader: 'x-id',
      attemptsHeader: null,
      contentTypeHeader: null,
    });
    const m = message();
    await sender.send([m], context());
    expect(producer.requests[0]!.topic).toBe('orders-v2');
    expect(producer.requests[0]!.messages[0]!.headers).toEqual({ 'x-id': m.id });
  });

  it('creates, connects once and disconnects its own idempotent producer', async () => {
    const producer = new FakeProducer();
    const configs: (ProducerConfig | undefined)[] = [];
    const sender = kafkaSender({
      client: {
        producer: (config) => {
          configs.push(config);
          return producer;
        },
      },
      maxInFlightRequests: 3,
    });
    expect(configs).toEqual([]);
    await Promise.all([sender.send([message()], context()), sender.send([message()], context())]);
    await sender.send([message()], context());
    expect(configs).toEqual([{ idempotent: true, maxInFlightRequests: 3, allowAutoTopicCreation: false }]);
    expect(producer.connects).toBe(1);
    await sender.close();
    expect(producer.disconnects).toBe(1);
    const after = await sender.send([message()], context());
    expect(after[0]).toMatchObject({ status: 'retry' });
  });

  it('builds a kafkajs client from brokers without connecting', () => {
    const sender = kafkaSender({ brokers: ['127.0.0.1:9'], clientId: 'relay' });
    expect(sender.name).toBe('kafka');
    expect(sender.options.owned).toBe(true);
    expect(sender.options.producerConfig).toEqual({
      idempotent: true,
      maxInFlightRequests: 5,
      allowAutoTopicCreation: false,
    });
  });
});

describe('kafkaSender results', () => {
  it('fails only the topic whose request failed, as retry for a connection loss', async () => {
    const producer = new FakeProducer();
    producer.fail = (r) => (r.topic === 'payments' ? connectionLost() : undefined);
    const sender = kafkaSender({ producer });
    const results = await sender.send([message(), message({ topic: 'payments' }), message()], context());
    expect(results.map((r) => r.status)).toEqual(['sent', 'retry', 'sent']);
    expect(kafkaErrorTypes((results[1] as { error: unknown }).error)).toEqual([]);
  });

  it('resends a batch that was too large one message at a time; only the oversized one is dead', async () => {
    const producer = new FakeProducer();
    producer.fail = (r) =>
      r.messages.some((m) => (m.value as Buffer).length > 100) ? tooLarge() : undefined;
    const sender = kafkaSender({ producer });
    const big = message({ payload: new Uint8Array(500), contentType: 'application/octet-stream' });
    const batch = [message(), big, message()];
    const results = await sender.send(batch, context());
    expect(results.map((r) => r.status)).toEqual(['sent', 'dead', 'sent']);
    expect(kafkaErrorTypes((results[1] as { error: unknown }).error)).toEqual(['MESSAGE_TOO_LARGE']);
    // One batch request, then one request per message in commit order.
    expect(producer.requests.map((r) => r.messages.map((m) => m.headers?.['outbox-id']))).toEqual([
      batch.map((m) => m.id),
      [batch[0]!.id],
      [big.id],
      [batch[2]!.id],
    ]);
  });

  it("reports an unknown topic as dead, or as retry with unknownTopic: 'retry'", async () => {
    const producer = new FakeProducer();
    producer.fail = () => unknownTopic();
    const deadResults = await kafkaSender({ producer }).send([message(), message()], context());
    expect(deadResults.map((r) => r.status)).toEqual(['dead', 'dead']);
    expect(kafkaErrorTypes((deadResults[0] as { error: unknown }).error)).toContain(
      'UNKNOWN_TOPIC_OR_PARTITION',
    );
    const retryResults = await kafkaSender({ producer, unknownTopic: 'retry' }).send([message()], context());
    expect(retryResults[0]).toMatchObject({ status: 'retry' });
  });

  it('lets classify override the default rules', async () => {
    const producer = new FakeProducer();
    producer.fail = () => connectionLost();
    const seen: string[] = [];
    const sender = kafkaSender({
      producer,
      classify: (_error, topic) => {
        seen.push(topic);
        return topic === 'audit' ? 'dead' : undefined;
      },
    });
    const results = await sender.send([message({ topic: 'audit' }), message()], context());
    expect(results.map((r) => r.status)).toEqual(['dead', 'retry']);
    expect(seen.sort()).toEqual(['audit', 'orders']);
  });

  it('makes a message dead when the topic mapping throws or returns no name', async () => {
    const producer = new FakeProducer();
    const sender = kafkaSender({
      producer,
      topic: (m) => {
        if (m.topic === 'bad') throw new Error('no topic for bad');
        return m.topic === 'empty' ? '' : m.topic;
      },
    });
    const results = await sender.send(
      [message({ topic: 'bad' }), message({ topic: 'empty' }), message()],
      context(),
    );
    expect(results.map((r) => r.status)).toEqual(['dead', 'dead', 'sent']);
    expect(String((results[0] as { error: unknown }).error)).toContain('no topic for bad');
    expect(producer.requests).toHaveLength(1);
  });

  it('retries the whole batch when its own producer cannot connect, and connects again next time', async () => {
    const producer = new FakeProducer();
    producer.connectError = new kafkajs.KafkaJSConnectionError('Connection error: ECONNREFUSED');
    const sender = kafkaSender({ client: { producer: () => producer } });
    const first = await sender.send([message(), message()], context());
    expect(first.map((r) => r.status)).toEqual(['retry', 'retry']);
    const second = await sender.send([message()], context());
    expect(second).toEqual([{ status: 'sent' }]);
    expect(producer.connects).toBe(2);
  });

  it('reconnects its own producer after kafkajs reports it disconnected', async () => {
    const producer = new FakeProducer();
    let disconnected = true;
    producer.fail = () => {
      if (!disconnected) return undefined;
      disconnected = false;
      return new kafkajs.KafkaJSError('The producer is disconnected');
    };
    const sender = kafkaSender({ client: { producer: () => producer } });
    expect((await sender.send([message()], context()))[0]).toMatchObject({ status: 'retry' });
    expect((await sender.send([message()], context()))[0]).toEqual({ status: 'sent' });
    expect(producer.connects).toBe(2);
  });

  it('honours the abort signal: unacknowledged messages are retried with the abort reason', async () => {
    const producer = new FakeProducer();
    let open!: () => void;
    producer.gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const sender = kafkaSender({ producer });
    const controller = new AbortController();
    const reason = new Error('send timeout');
    const pending = sender.send([message(), message({ topic: 'payments' })], { signal: controller.signal });
    await expect.poll(() => producer.requests.length).toBe(2);
    controller.abort(reason);
    const results = await pending;
    expect(results).toEqual([
      { status: 'retry', error: reason },
      { status: 'retry', error: reason },
    ]);
    open();
    const already = new AbortController();
    already.abort(reason);
    expect(await sender.send([message()], { signal: already.signal })).toEqual([
      { status: 'retry', error: reason },
    ]);
  });

  it('classifies errors by the kafkajs error types in the cause chain', () => {
    expect(kafkaErrorTypes(tooLarge())).toEqual(['MESSAGE_TOO_LARGE']);
    expect(kafkaErrorTypes(unknownTopic())).toEqual(['UNKNOWN_TOPIC_OR_PARTITION']);
    expect(kafkaErrorTypes(new Error('plain'))).toEqual([]);
    expect(kafkaErrorTypes(undefined)).toEqual([]);
  });
});

describe('kafkaSender options', () => {
  it('rejects bad options with INVALID_OPTION before connecting', () => {
    const producer = new FakeProducer();
    rejects(undefined, /options must be an object/);
    rejects({}, /give brokers, client or producer/);
    rejects({ brokers: ['a:9092'], producer }, /only one of brokers, client or producer/);
    rejects({ brokers: [] }, /brokers must be a non-empty array/);
    rejects({ brokers: 'a:9092' }, /brokers must be a non-empty array/);
    rejects({ producer, maxInFlightRequests: 6 }, /maxInFlightRequests must be an integer from 1 to 5/);
    rejects({ producer, maxInFlightRequests: 0 }, /maxInFlightRequests/);
    rejects({ producer, topic: 'orders' }, /topic must be a function/);
    rejects({ producer, topic: () => 'x', topicPrefix: 'a.' }, /topic or topicPrefix, not both/);
    rejects({ producer, timeoutMs: -5 }, /timeoutMs must be a positive integer/);
    rejects({ producer, unknownTopic: 'ignore' }, /unknownTopic must be 'dead' or 'retry'/);
    rejects({ producer, idHeader: null }, /idHeader must be a non-empty string/);
    rejects({ producer: { send() {} } }, /producer must be a kafkajs Producer/);
    rejects({ client: {} }, /client must be a kafkajs Kafka instance/);
    producer.idempotent = false;
    rejects({ producer }, /idempotent: true/);
  });
});

describe('kafkaSender with the relay on PostgreSQL', () => {
  const pool = new pg.Pool({
    connectionString: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
  });
  pool.on('error', () => {});
  const schema = `t_kafka_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;

  afterAll(async () => {
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await pool.end();
  });

  it('records sent, retry and dead per message from one batch', async () => {
    const dialect = postgres({ schema });
    const store = new SqlMessageStore({ dialect, db: pgPool(pool) });
    await store.migrate();
    const outbox = createOutbox({ dialect });
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await outbox.add(pgClient(client), [
        { topic: 'orders', key: 'o-1', payload: { n: 1 }, headers: { traceparent: '00-aa-bb-01' } },
        { topic: 'orders', key: 'o-1', payload: { n: 2, pad: 'x'.repeat(400) } },
        { topic: 'payments', key: 'p-1', payload: { n: 3 } },
        { topic: 'missing', payload: { n: 4 } },
      ]);
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    const producer = new FakeProducer();
    let paymentsDown = true;
    producer.fail = (r) => {
      if (r.topic === 'missing') return unknownTopic();
      if (r.topic === 'payments' && paymentsDown) return connectionLost();
      if (r.messages.some((m) => (m.value as Buffer).length > 300)) return tooLarge();
      return undefined;
    };
    const relay = createRelay({ store, sender: kafkaSender({ producer }), backoff: { initialDelayMs: 1 } });
    expect(await relay.runOnce()).toMatchObject({ sent: 1, retried: 1, dead: 2 });
    const dead = await store.deadLetters();
    expect(dead.map((d) => d.topic).sort()).toEqual(['missing', 'orders']);
    expect(dead.find((d) => d.topic === 'orders')?.lastError).toMatch(
      /MESSAGE_TOO_LARGE|larger than the max/,
    );
    const sentOrder = producer.requests.find((r) => r.topic === 'orders')!.messages[0]!;
    expect(sentOrder.headers).toMatchObject({ traceparent: '00-aa-bb-01' });
    expect(sentOrder.key).toBe('o-1');

    paymentsDown = false;
    await expect.poll(async () => (await relay.runOnce()).sent, { timeout: 5000 }).toBe(1);
    expect(await store.stats()).toMatchObject({ pending: 0, sent: 2, dead: 2 });
  });
});
