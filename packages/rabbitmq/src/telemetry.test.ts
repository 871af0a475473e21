import { context, type SpanContext } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import {
  createOutbox,
  createRelay,
  formatTraceparent,
  pgClient,
  pgPool,
  postgres,
  relayTelemetry,
  SqlMessageStore,
} from '@troutbox/core';
import { uniqueName, waitFor } from '@troutbox/core/testing';
import amqp, { type ConsumeMessage } from 'amqplib';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { rabbitmqSender } from './index.js';

const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const contextManager = new AsyncLocalStorageContextManager();
let pool: pg.Pool;
const schema = uniqueName('t_rmq_otel');
const exchange = uniqueName('tx_rmq_otel');
const queue = uniqueName('tq_rmq_otel');

beforeAll(async () => {
  context.setGlobalContextManager(contextManager.enable());
  pool = new pg.Pool({ connectionString: DATABASE_URL, max: 4 });
  pool.on('error', () => {});
});

afterAll(async () => {
  const conn = await amqp.connect(AMQP_URL);
  const ch = await conn.createChannel();
  await ch.deleteQueue(queue);
  await ch.deleteExchange(exchange);
  await conn.close();
  await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await pool.end();
  context.disable();
});

it("the producing span's traceparent reaches the RabbitMQ consumer, and the send span links to it", async () => {
  const exporter = new InMemorySpanExporter();
  const tracer = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }).getTracer(
    'test',
  );
  const dialect = postgres({ schema });
  const store = new SqlMessageStore({ dialect, db: pgPool(pool) });
  await store.migrate();
  const outbox = createOutbox({ dialect });

  const conn = await amqp.connect(AMQP_URL);
  const ch = await conn.createChannel();
  await ch.assertExchange(exchange, 'topic', { durable: false });
  await ch.assertQueue(queue, { durable: false });
  await ch.bindQueue(queue, exchange, '#');
  const received: ConsumeMessage[] = [];
  await ch.consume(queue, (m) => m && received.push(m), { noAck: true });

  // The producer: an HTTP handler's span is active while the order and its message commit.
  let producer!: SpanContext;
  await tracer.startActiveSpan('POST /orders', async (span) => {
    producer = span.spanContext();
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await outbox.add(pgClient(client), { topic: 'orders.placed', key: 'o-7', payload: { orderId: 7 } });
      await client.query('COMMIT');
    } finally {
      client.release();
      span.end();
    }
  });

  const sender = rabbitmqSender({ url: AMQP_URL, exchange });
  const relay = createRelay({
    store,
    sender,
    telemetry: relayTelemetry({ tracer, store, sender }),
    closeSender: true,
  });
  await relay.start();
  const [message] = await waitFor(() => (received.length > 0 ? received : undefined));
  await relay.stop();
  await conn.close();

  const headers = message!.properties.headers as Record<string, unknown>;
  expect(String(headers.traceparent)).toBe(formatTraceparent(producer));
  const sendSpan = await waitFor(() =>
    exporter.getFinishedSpans().find((s) => s.name === 'send orders.placed'),
  );
  expect(sendSpan.links.map((l) => [l.context.traceId, l.context.spanId])).toEqual([
    [producer.traceId, producer.spanId],
  ]);
  expect(sendSpan.attributes).toMatchObject({
    'messaging.system': 'rabbitmq',
    'messaging.destination.name': 'orders.placed',
    'messaging.message.id': message!.properties.messageId,
    'messaging.batch.message_count': 1,
  });
});
