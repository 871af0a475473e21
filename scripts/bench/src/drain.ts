import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import {
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  type SpanExporter,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';
import {
  createRelay,
  type OutboxMessage,
  pgPool,
  postgres,
  type RelayTelemetry,
  relayTelemetry,
  type SendResult,
  SqlMessageStore,
  sent,
} from '@troutbox/core';
import type pg from 'pg';
import { type BenchTarget, postgresTarget } from './databases.js';
import { median, schemaName, until } from './util.js';

/**
 * Telemetry as a production app would run it: the SDK's meter provider with a reader, and a
 * tracer provider sampling every span into a batch processor (whose exporter discards them).
 */
export type TelemetryMode = 'off' | 'metrics' | 'sampled' | 'all';

function sdkTelemetry(mode: Exclude<TelemetryMode, 'off'>, dbSystem: string): RelayTelemetry {
  const meterProvider = new MeterProvider({
    readers: [
      new PeriodicExportingMetricReader({
        exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
        exportIntervalMillis: 1000,
      }),
    ],
  });
  const discard: SpanExporter = {
    export: (_spans, done) => done({ code: 0 }),
    shutdown: async () => {},
  };
  const tracerProvider = new BasicTracerProvider({
    spanProcessors: [new BatchSpanProcessor(discard)],
    sampler:
      mode === 'sampled'
        ? new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(0.1) })
        : new AlwaysOnSampler(),
  });
  return relayTelemetry({
    meter: meterProvider.getMeter('bench'),
    ...(mode === 'metrics' ? {} : { tracer: tracerProvider.getTracer('bench') }),
    dbSystem,
    messagingSystem: 'noop',
  });
}

/**
 * Create a migrated outbox table in a fresh PostgreSQL schema on `pool` and fill it with `count`
 * pending messages (the broker benchmarks' source).
 */
export async function seed(
  pool: pg.Pool,
  count: number,
): Promise<{ schema: string; store: SqlMessageStore }> {
  const schema = schemaName('drain');
  const store = new SqlMessageStore({ dialect: postgres({ schema }), db: pgPool(pool) });
  await store.migrate();
  // ~120-byte JSON payloads, like a small domain event.
  await pool.query(
    `INSERT INTO "${schema}".outbox_messages (topic, key, payload, headers)
     SELECT 'orders', 'order-' || (g % 1000), convert_to(json_build_object('type', 'OrderPlaced', 'orderId', g, 'total', g % 977, 'currency', 'EUR', 'note', repeat('x', 40))::text, 'UTF8'), '{"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}'
     FROM generate_series(1, $1) AS g`,
    [count],
  );
  await pool.query(`VACUUM ANALYZE "${schema}".outbox_messages`);
  return { schema, store };
}

/** Drain `count` messages with `relays` relays (one pool each), no-op sender; messages/s. */
export async function troutboxDrain(
  target: BenchTarget,
  count: number,
  relays: number,
  batchSize: number,
  telemetry: TelemetryMode = 'off',
  ordering: 'none' | 'key' = 'none',
): Promise<number> {
  const { namespace, dialect } = await target.seed(count, { ordering });
  const pools = Array.from({ length: relays }, () => target.pool(2));
  let delivered = 0;
  const noop = {
    async send(messages: readonly OutboxMessage[]): Promise<SendResult[]> {
      return messages.map(() => sent());
    },
  };
  const rs = pools.map((pool) =>
    createRelay({
      store: new SqlMessageStore({ dialect, db: pool.db }),
      sender: noop,
      batchSize,
      pollIntervalMs: 20,
      telemetry: telemetry === 'off' ? false : sdkTelemetry(telemetry, target.otelSystem),
    }),
  );
  for (const r of rs) r.on('batch', (b) => (delivered += b.sent));
  const started = performance.now();
  await Promise.all(rs.map((r) => r.start()));
  await until(() => delivered >= count, 300_000, 2);
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(rs.map((r) => r.stop()));
  await Promise.all(pools.map((p) => p.end()));
  await target.drop(namespace);
  return count / seconds;
}

/** The raw-SQL baseline: the bare claim-and-mark loop the relay runs, per worker on its own connection. */
export async function rawDrain(
  target: BenchTarget,
  count: number,
  workers: number,
  batchSize: number,
): Promise<number> {
  const { namespace, dialect } = await target.seed(count);
  const t = dialect.tableName;
  const pools = Array.from({ length: workers }, () => target.pool(1));
  const sessions = await Promise.all(pools.map((p) => p.session()));
  for (const s of sessions) for (const sql of target.rawSessionSetup) await s.query(sql);
  let delivered = 0;
  const started = performance.now();
  await Promise.all(
    sessions.map(async (s) => {
      for (;;) {
        await s.begin();
        const claim = target.rawClaim(t, batchSize);
        const rows = (await s.query(claim.sql, claim.params)) as { id: unknown }[];
        if (rows.length > 0) {
          const mark = target.rawMarkSent(
            t,
            rows.map((r) => r.id),
          );
          await s.query(mark.sql, mark.params);
        }
        await s.commit();
        delivered += rows.length;
        if (rows.length === 0) return;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  if (delivered !== count) throw new Error(`raw drain delivered ${delivered} of ${count}`);
  for (const s of sessions) s.release();
  await Promise.all(pools.map((p) => p.end()));
  await target.drop(namespace);
  return count / seconds;
}

export interface DrainRow {
  workers: number;
  troutbox: number;
  raw: number;
}

export async function drainBench(
  target: BenchTarget,
  options: {
    messages: number;
    runs: number;
    batchSize: number;
  },
): Promise<DrainRow[]> {
  const rows: DrainRow[] = [];
  for (const workers of [1, 4]) {
    const ours: number[] = [];
    const raw: number[] = [];
    // Interleaved, so drift in the machine's load affects both alike.
    for (let i = 0; i < options.runs; i++) {
      raw.push(await rawDrain(target, options.messages, workers, options.batchSize));
      ours.push(await troutboxDrain(target, options.messages, workers, options.batchSize));
    }
    rows.push({ workers, troutbox: median(ours), raw: median(raw) });
  }
  return rows;
}

export interface TelemetryRow {
  telemetry: string;
  msgPerSec: number;
}

/** Drain rate with telemetry off, and with the OpenTelemetry SDK recording metrics and traces. */
export async function telemetryBench(options: {
  messages: number;
  runs: number;
  batchSize: number;
}): Promise<TelemetryRow[]> {
  const modes: [TelemetryMode, string][] = [
    ['off', 'off'],
    ['metrics', 'metrics (SDK), no tracer'],
    ['sampled', 'metrics + traces sampled 10% (parent-based)'],
    ['all', 'metrics + every span (batch and per message)'],
  ];
  const samples = new Map<TelemetryMode, number[]>(modes.map(([m]) => [m, []]));
  for (let i = 0; i < options.runs; i++) {
    for (const [mode] of modes) {
      samples
        .get(mode)!
        .push(await troutboxDrain(postgresTarget, options.messages, 1, options.batchSize, mode));
    }
  }
  return modes.map(([mode, label]) => ({ telemetry: label, msgPerSec: median(samples.get(mode)!) }));
}

export interface OrderedDrainRow {
  workers: number;
  unordered: number;
  ordered: number;
}

/**
 * The same backlog (1,000 keys) drained unordered and with `ordering: 'key'`, interleaved run
 * by run: what per-key ordering costs the relay.
 */
export async function orderedDrainBench(
  target: BenchTarget,
  options: { messages: number; runs: number; batchSize: number },
): Promise<OrderedDrainRow[]> {
  const rows: OrderedDrainRow[] = [];
  for (const workers of [1, 4]) {
    const unordered: number[] = [];
    const ordered: number[] = [];
    for (let i = 0; i < options.runs; i++) {
      unordered.push(await troutboxDrain(target, options.messages, workers, options.batchSize));
      ordered.push(await troutboxDrain(target, options.messages, workers, options.batchSize, 'off', 'key'));
    }
    rows.push({ workers, unordered: median(unordered), ordered: median(ordered) });
  }
  return rows;
}
