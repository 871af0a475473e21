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
import { median, newPool, schemaName, until } from './util.js';

/**
 * Telemetry as a production app would run it: the SDK's meter provider with a reader, and a
 * tracer provider sampling every span into a batch processor (whose exporter discards them).
 */
export type TelemetryMode = 'off' | 'metrics' | 'sampled' | 'all';

function sdkTelemetry(mode: Exclude<TelemetryMode, 'off'>): RelayTelemetry {
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
    dbSystem: 'postgresql',
    messagingSystem: 'noop',
  });
}

/** Create a migrated outbox table in a fresh schema and fill it with `count` pending messages. */
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

async function drop(pool: pg.Pool, schema: string) {
  await pool.query(`DROP SCHEMA "${schema}" CASCADE`);
}

/** Drain `count` messages with `relays` relays (one pool each), no-op sender; messages/s. */
export async function troutboxDrain(
  count: number,
  relays: number,
  batchSize: number,
  telemetry: TelemetryMode = 'off',
): Promise<number> {
  const admin = newPool(2);
  const { schema } = await seed(admin, count);
  const pools = Array.from({ length: relays }, () => newPool(2));
  let delivered = 0;
  const noop = {
    async send(messages: readonly OutboxMessage[]): Promise<SendResult[]> {
      return messages.map(() => sent());
    },
  };
  const rs = pools.map((pool) =>
    createRelay({
      store: new SqlMessageStore({ dialect: postgres({ schema }), db: pgPool(pool) }),
      sender: noop,
      batchSize,
      pollIntervalMs: 20,
      telemetry: telemetry === 'off' ? false : sdkTelemetry(telemetry),
    }),
  );
  for (const r of rs) r.on('batch', (b) => (delivered += b.sent));
  const started = performance.now();
  await Promise.all(rs.map((r) => r.start()));
  await until(() => delivered >= count, 300_000, 2);
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(rs.map((r) => r.stop()));
  await Promise.all(pools.map((p) => p.end()));
  await drop(admin, schema);
  await admin.end();
  return count / seconds;
}

/** The raw-SQL baseline: the bare claim-and-mark loop the relay runs, per worker on its own connection. */
export async function rawDrain(count: number, workers: number, batchSize: number): Promise<number> {
  const admin = newPool(2);
  const { schema } = await seed(admin, count);
  const t = `"${schema}".outbox_messages`;
  const pools = Array.from({ length: workers }, () => newPool(1));
  const clients = await Promise.all(pools.map((p) => p.connect()));
  let delivered = 0;
  const started = performance.now();
  await Promise.all(
    clients.map(async (c) => {
      for (;;) {
        await c.query('BEGIN');
        const { rows } = await c.query(
          `SELECT id, topic, key, payload, content_type, headers, created_at, attempts FROM ${t}
           WHERE status = 'pending' AND available_at <= now() ORDER BY available_at, id LIMIT $1 FOR UPDATE SKIP LOCKED`,
          [batchSize],
        );
        if (rows.length > 0) {
          await c.query(`UPDATE ${t} SET status = 'sent', sent_at = now() WHERE id = ANY($1::bigint[])`, [
            rows.map((r) => r.id),
          ]);
        }
        await c.query('COMMIT');
        delivered += rows.length;
        if (rows.length === 0) return;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  if (delivered !== count) throw new Error(`raw drain delivered ${delivered} of ${count}`);
  for (const c of clients) c.release();
  await Promise.all(pools.map((p) => p.end()));
  await drop(admin, schema);
  await admin.end();
  return count / seconds;
}

export interface DrainRow {
  workers: number;
  troutbox: number;
  raw: number;
}

export async function drainBench(options: {
  messages: number;
  runs: number;
  batchSize: number;
}): Promise<DrainRow[]> {
  const rows: DrainRow[] = [];
  for (const workers of [1, 4]) {
    const ours: number[] = [];
    const raw: number[] = [];
    // Interleaved, so drift in the machine's load affects both alike.
    for (let i = 0; i < options.runs; i++) {
      raw.push(await rawDrain(options.messages, workers, options.batchSize));
      ours.push(await troutboxDrain(options.messages, workers, options.batchSize));
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
      samples.get(mode)!.push(await troutboxDrain(options.messages, 1, options.batchSize, mode));
    }
  }
  return modes.map(([mode, label]) => ({ telemetry: label, msgPerSec: median(samples.get(mode)!) }));
}
