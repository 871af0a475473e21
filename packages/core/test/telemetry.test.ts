import { context, type SpanContext, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  AggregationTemporality,
  type DataPoint,
  MeterProvider,
  MetricReader,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  backlogGauges,
  createOutbox,
  createRelay,
  dead,
  formatTraceparent,
  type MessageStore,
  parseTraceparent,
  relayTelemetry,
  retry,
  sent,
  withTraceContext,
} from '../src/index.js';
import { recordingSender, waitFor } from '../src/testing/index.js';
import { createTestOutbox, databases, type TestOutbox } from './helpers.js';

class TestReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

function instruments() {
  const reader = new TestReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const meter = meterProvider.getMeter('test');
  const tracer = tracerProvider.getTracer('test');
  /** Sum of a counter's data points, by topic. */
  async function counter(name: string): Promise<Record<string, number>> {
    const { resourceMetrics } = (await reader.collect()) as { resourceMetrics: ResourceMetrics };
    const out: Record<string, number> = {};
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const metric of scope.metrics) {
        if (metric.descriptor.name !== name) continue;
        for (const p of metric.dataPoints as DataPoint<number>[]) {
          const topic = String(p.attributes.topic);
          out[topic] = (out[topic] ?? 0) + p.value;
        }
      }
    }
    return out;
  }
  async function metric(name: string) {
    const { resourceMetrics } = (await reader.collect()) as { resourceMetrics: ResourceMetrics };
    return resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === name);
  }
  return { meter, tracer, exporter, counter, metric };
}

const contextManager = new AsyncLocalStorageContextManager();

describe.each(databases)('telemetry on $label', (database) => {
  let t: TestOutbox;
  beforeAll(async () => {
    context.setGlobalContextManager(contextManager.enable());
    t = await createTestOutbox(database, { prefix: 'otel' });
  });
  afterAll(async () => {
    await t.close();
    context.disable();
  });

  it('counts every outcome exactly, once, with topic and db.system', async () => {
    const { meter, tracer, counter, metric } = instruments();
    const messages = Array.from({ length: 60 }, (_, i) => ({
      topic: i % 2 ? 'odd' : 'even',
      payload: { i },
    }));
    await t.add(messages);
    // Every 5th message fails once then succeeds; every 7th is poison; maxAttempts 3.
    const failedOnce = new Set<string>();
    const sender = recordingSender((m) => {
      const { i } = JSON.parse(Buffer.from(m.payload).toString()) as { i: number };
      if (i % 7 === 0) return i % 14 === 0 ? dead(new Error('rejected')) : retry(new Error('always down'), 0);
      if (i % 5 === 0 && !failedOnce.has(m.id)) {
        failedOnce.add(m.id);
        return retry(new Error('once'), 0);
      }
      return sent();
    });
    const relay = createRelay({
      store: t.store,
      sender,
      batchSize: 25,
      maxAttempts: 3,
      telemetry: relayTelemetry({ meter, tracer, store: t.store, sender }),
    });
    const truth: Record<string, Record<string, number>> = { sent: {}, failed: {}, retried: {}, dead: {} };
    const bump = (k: string, topic: string) => {
      truth[k]![topic] = (truth[k]![topic] ?? 0) + 1;
    };
    relay.on('sent', ({ messages: ms }) => {
      for (const m of ms) bump('sent', m.topic);
    });
    relay.on('retry', ({ message }) => {
      bump('failed', message.topic);
      bump('retried', message.topic);
    });
    relay.on('dead', ({ message }) => {
      bump('failed', message.topic);
      bump('dead', message.topic);
    });
    while ((await t.store.stats()).pending > 0) await relay.runOnce();
    // The database's own account of what happened.
    const rows = await t.sql<{ topic: string; status: string; attempts: number }>(
      'SELECT topic, status, attempts FROM $table',
    );
    const dbSent: Record<string, number> = {};
    const dbDead: Record<string, number> = {};
    const dbFailed: Record<string, number> = {};
    for (const r of rows) {
      if (r.status === 'sent') dbSent[r.topic] = (dbSent[r.topic] ?? 0) + 1;
      if (r.status === 'dead') dbDead[r.topic] = (dbDead[r.topic] ?? 0) + 1;
      dbFailed[r.topic] = (dbFailed[r.topic] ?? 0) + r.attempts;
    }
    expect(await counter('outbox_messages_sent')).toEqual(dbSent);
    expect(await counter('outbox_messages_dead')).toEqual(dbDead);
    expect(await counter('outbox_messages_failed')).toEqual(dbFailed);
    expect(await counter('outbox_messages_sent')).toEqual(truth.sent);
    expect(await counter('outbox_messages_retried')).toEqual(truth.retried);
    expect(await counter('outbox_messages_failed')).toEqual(truth.failed);
    const sentTotal = Object.values(dbSent).reduce((a, b) => a + b, 0);
    const latency = await metric('outbox_delivery_latency');
    const points = latency!.dataPoints as DataPoint<{ count: number }>[];
    expect(points.reduce((a, p) => a + p.value.count, 0)).toBe(sentTotal);
    expect(points[0]!.attributes['db.system']).toBe(database.otelSystem);
    const batches = await metric('outbox_batch_duration');
    expect((batches!.dataPoints as DataPoint<{ count: number }>[])[0]!.value.count).toBeGreaterThanOrEqual(3);
  });

  it('counts nothing for a batch whose commit fails', async () => {
    const { meter, tracer, counter, exporter } = instruments();
    await t.add([
      { topic: 'doomed', payload: 1 },
      { topic: 'doomed', payload: 2 },
    ]);
    // The store itself for everything but complete (bound to it: it has private state).
    const failing = new Proxy(t.store, {
      get(target, property) {
        if (property === 'complete') {
          return async () => {
            throw new Error('connection lost at commit');
          };
        }
        const value = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as MessageStore;
    const sender = recordingSender(() => sent());
    const relay = createRelay({
      store: failing,
      sender,
      telemetry: relayTelemetry({ meter, tracer, store: t.store }),
    });
    await expect(relay.runOnce()).rejects.toThrow('connection lost at commit');
    expect(sender.deliveries).toHaveLength(2);
    expect(await counter('outbox_messages_sent')).toEqual({});
    expect(await counter('outbox_messages_failed')).toEqual({});
    const batchSpan = exporter.getFinishedSpans().find((s) => s.name === 'outbox relay batch');
    expect(batchSpan?.status.code).toBe(2);
    // The messages are still pending and are delivered by a healthy relay.
    const ok = createRelay({
      store: t.store,
      sender,
      telemetry: relayTelemetry({ meter, tracer, store: t.store }),
    });
    expect(await ok.runOnce()).toMatchObject({ sent: 2 });
    expect(await counter('outbox_messages_sent')).toEqual({ doomed: 2 });
  });

  it('carries the producer span into traceparent and links each send span to it', async () => {
    const { tracer, exporter, meter } = instruments();
    const outbox = createOutbox({ dialect: t.store.dialect });
    let producer!: SpanContext;
    await tracer.startActiveSpan('POST /orders', async (span) => {
      producer = span.spanContext();
      try {
        const tx = await t.pool.begin();
        await outbox.add(tx.executor, { topic: 'traced', key: 'o-1', payload: { id: 1 } });
        await outbox.add(tx.executor, { topic: 'traced', payload: 2, headers: { traceparent: 'own' } });
        await tx.commit();
      } finally {
        span.end();
      }
    });
    const sender = recordingSender(() => sent());
    const relay = createRelay({
      store: t.store,
      sender,
      telemetry: relayTelemetry({ meter, tracer, store: t.store, sender }),
    });
    await relay.runOnce();
    const [first, second] = sender.deliveries;
    expect(first!.headers.traceparent).toBe(formatTraceparent(producer));
    expect(second!.headers.traceparent).toBe('own');
    const sendSpans = exporter.getFinishedSpans().filter((s) => s.name === 'send traced');
    expect(sendSpans).toHaveLength(2);
    const linked = sendSpans.find((s) => s.attributes['messaging.message.id'] === first!.id)!;
    expect(linked.links).toHaveLength(1);
    expect(linked.links[0]!.context.traceId).toBe(producer.traceId);
    expect(linked.links[0]!.context.spanId).toBe(producer.spanId);
    expect(linked.attributes).toMatchObject({
      'messaging.system': 'recording',
      'messaging.destination.name': 'traced',
      'messaging.batch.message_count': 2,
    });
    const batch = exporter.getFinishedSpans().find((s) => s.name === 'outbox relay batch')!;
    expect(linked.parentSpanContext?.spanId).toBe(batch.spanContext().spanId);
  });

  it('withTraceContext leaves messages alone without an active span; parseTraceparent rejects junk', () => {
    const m = { topic: 'x', payload: 1 };
    expect(withTraceContext(m)).toBe(m);
    expect(parseTraceparent({ traceparent: 'nonsense' })).toBeUndefined();
    expect(parseTraceparent({ traceparent: `00-${'0'.repeat(32)}-${'1'.repeat(16)}-01` })).toBeUndefined();
    const sc = parseTraceparent({
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      tracestate: 'vendor=1',
    });
    expect(sc).toMatchObject({ traceId: '0af7651916cd43dd8448eb211c80319c', traceFlags: 1, isRemote: true });
    expect(sc!.traceState!.get('vendor')).toBe('1');
    expect(trace.getSpanContext(context.active())).toBeUndefined();
  });

  it('backlog gauges come from one shared stats query, not one per collection', async () => {
    const { meter, metric } = instruments();
    await t.add({ topic: 'gauge', payload: 1 });
    let queries = 0;
    const counted = {
      system: t.store.system,
      stats: () => {
        queries++;
        return t.store.stats();
      },
    };
    const stop = backlogGauges(counted, { meter, intervalMs: 60_000 });
    try {
      await waitFor(async () => {
        const g = await metric('outbox_backlog_pending');
        return g && g.dataPoints.length > 0 ? g : undefined;
      });
      for (let i = 0; i < 5; i++) await metric('outbox_backlog_pending');
      expect(queries).toBe(1);
      const pending = await metric('outbox_backlog_pending');
      expect((pending!.dataPoints[0] as DataPoint<number>).value).toBeGreaterThanOrEqual(1);
      const age = await metric('outbox_backlog_oldest_age');
      expect((age!.dataPoints[0] as DataPoint<number>).value).toBeGreaterThanOrEqual(0);
    } finally {
      stop();
      await createRelay({ store: t.store, sender: recordingSender(), telemetry: false }).runOnce();
    }
  });
});
