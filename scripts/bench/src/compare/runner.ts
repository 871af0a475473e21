import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { databaseUrl } from '../util.js';
import { type FromWorker, type ToWorker, wallMs } from './protocol.js';
import type { System, VariantName } from './types.js';

const workerPath = fileURLToPath(new URL('./worker.ts', import.meta.url));

/** Schemas created and not yet dropped, so an interrupted run can still clean up. */
export const liveSchemas = new Set<string>();
const liveChildren = new Set<ChildProcess>();

export async function dropSchema(admin: pg.Pool, schema: string): Promise<void> {
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  liveSchemas.delete(schema);
}

export function killWorkers(): void {
  for (const child of liveChildren) child.kill('SIGKILL');
}

/** VACUUM ANALYZE every table of a seeded schema, as ../drain.ts's seed does for troutbox's. */
async function settle(admin: pg.Pool, schema: string): Promise<void> {
  const { rows } = await admin.query<{ tablename: string }>(
    `SELECT tablename FROM pg_tables WHERE schemaname = $1`,
    [schema],
  );
  for (const { tablename } of rows) await admin.query(`VACUUM ANALYZE "${schema}"."${tablename}"`);
}

interface Worker {
  send(message: ToWorker): void;
  ready: Promise<void>;
  latency: Promise<(number | null)[]>;
  progress: { handled: number; lastAt: number };
  /** Stop the consumer and wait for the process to report and exit; kills it past the timeout. */
  stop(timeoutMs?: number): Promise<{ handled: number; peakRssBytes: number }>;
}

function spawnWorker(init: Extract<ToWorker, { type: 'init' }>): Worker {
  // Same loader and conditions as this process (tsx, @troutbox/source), for every system alike.
  const child = fork(workerPath, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  liveChildren.add(child);
  const progress = { handled: 0, lastAt: 0 };
  let failure: Error | undefined;
  const waiters = new Map<string, { resolve: (m: any) => void; reject: (e: Error) => void }[]>();
  const waitFor = <T extends FromWorker['type']>(type: T) =>
    new Promise<Extract<FromWorker, { type: T }>>((resolve, reject) => {
      if (failure) return reject(failure);
      waiters.set(type, [...(waiters.get(type) ?? []), { resolve, reject }]);
    });
  const failAll = (error: Error) => {
    failure ??= error;
    for (const list of waiters.values()) for (const w of list) w.reject(failure);
    waiters.clear();
  };
  child.on('message', (message: FromWorker) => {
    if (message.type === 'progress') Object.assign(progress, message);
    if (message.type === 'error') return failAll(new Error(`${init.system} worker: ${message.message}`));
    for (const w of waiters.get(message.type) ?? []) w.resolve(message);
    waiters.delete(message.type);
  });
  const exited = new Promise<void>((resolve) =>
    child.on('exit', (code, signal) => {
      liveChildren.delete(child);
      failAll(new Error(`${init.system} worker exited (${signal ?? code}) before reporting`));
      resolve();
    }),
  );
  child.send(init);
  const ready = waitFor('ready').then(() => {});
  const latency = waitFor('latency').then((m) => m.latencies);
  latency.catch(() => {});
  return {
    send: (message) => child.send(message),
    ready,
    latency,
    progress,
    async stop(timeoutMs = 20_000) {
      const stopped = waitFor('stopped');
      stopped.catch(() => {});
      if (child.connected) child.send({ type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      try {
        const result = await stopped;
        await exited;
        return result;
      } catch (error) {
        await exited;
        throw error;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

export interface DrainSample {
  /** Messages handled per second. */
  rate: number;
  handled: number;
  /** False when the backlog was not drained before the time cap; `rate` is then over the cap. */
  complete: boolean;
  seconds: number;
  /** Largest peak RSS of the worker processes, MiB. */
  peakRssMiB: number;
}

/**
 * Enqueue `count` messages (not timed), start `workers` worker processes, time until every
 * message has reached a handler (or `capMs` passed), stop them, drop the schema.
 */
export async function drainRun(
  admin: pg.Pool,
  system: System,
  variant: VariantName,
  workers: number,
  count: number,
  capMs: number,
): Promise<DrainSample> {
  const schema = await system.seedBacklog(admin, count, variant);
  liveSchemas.add(schema);
  const procs: Worker[] = [];
  try {
    await settle(admin, schema);
    for (let i = 0; i < workers; i++) {
      procs.push(
        spawnWorker({ type: 'init', system: system.id, variant, schema, databaseUrl, mode: 'drain' }),
      );
    }
    await Promise.all(procs.map((p) => p.ready));
    const goAt = wallMs();
    for (const p of procs) p.send({ type: 'go' });
    const total = () => procs.reduce((n, p) => n + p.progress.handled, 0);
    while (total() < count && wallMs() - goAt < capMs) await new Promise((r) => setTimeout(r, 20));
    const handled = total();
    const complete = handled >= count;
    const seconds = ((complete ? Math.max(...procs.map((p) => p.progress.lastAt)) : wallMs()) - goAt) / 1000;
    const stopped = await Promise.all(procs.map((p) => p.stop()));
    return {
      rate: handled / seconds,
      handled,
      complete,
      seconds,
      peakRssMiB: Math.max(...stopped.map((s) => s.peakRssBytes)) / 2 ** 20,
    };
  } finally {
    await Promise.allSettled(procs.map((p) => p.stop(5000)));
    await dropSchema(admin, schema);
  }
}

export interface LatencySample {
  p50: number;
  p99: number;
  /** Messages whose handler ran before the settle deadline, of those measured. */
  handled: number;
  measured: number;
  peakRssMiB: number;
}

/** Linear-interpolation-free percentile over latencies, a message never handled counting as +∞. */
export function percentileOf(values: (number | null)[], p: number): number {
  const sorted = values.map((v) => (v === null ? Number.POSITIVE_INFINITY : v)).sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/**
 * Producers and one consumer in one worker process (the way each system's docs show an app
 * that enqueues and works), committing one message per transaction at `ratePerSec`.
 */
export async function latencyRun(
  admin: pg.Pool,
  system: System,
  variant: VariantName,
  options: { ratePerSec: number; seconds: number; producers: number; settleMs: number; warmup: number },
): Promise<LatencySample> {
  const schema = await system.create(admin, variant);
  liveSchemas.add(schema);
  const messages = Math.round(options.ratePerSec * options.seconds);
  const proc = spawnWorker({
    type: 'init',
    system: system.id,
    variant,
    schema,
    databaseUrl,
    mode: 'latency',
    latency: { ...options, messages },
  });
  try {
    await proc.ready;
    proc.send({ type: 'go' });
    const latencies = await proc.latency;
    const stopped = await proc.stop();
    return {
      p50: percentileOf(latencies, 50),
      p99: percentileOf(latencies, 99),
      handled: latencies.filter((l) => l !== null).length,
      measured: latencies.length,
      peakRssMiB: stopped.peakRssBytes / 2 ** 20,
    };
  } finally {
    await proc.stop(5000).catch(() => {});
    await dropSchema(admin, schema);
  }
}

export interface ProducerEntry {
  key: string;
  system: System | null;
  variant: VariantName | null;
}

/**
 * Producer cost: sequential transactions on one connection, each one business row plus (but
 * for the reference) one enqueue through the system's "inside my transaction" API. Entries take
 * turns every 50 transactions so a change in the machine's load falls on all alike.
 */
export async function producerRuns(
  admin: pg.Pool,
  entries: ProducerEntry[],
  options: { transactions: number; runs: number },
): Promise<Map<string, number[]>> {
  const business = `bench_cmp_business_${process.pid}`;
  await admin.query(`CREATE SCHEMA "${business}"`);
  liveSchemas.add(business);
  await admin.query(
    `CREATE TABLE "${business}".orders (id bigint PRIMARY KEY, customer text NOT NULL, total integer NOT NULL)`,
  );
  const schemas: string[] = [];
  const closers: (() => Promise<void>)[] = [];
  const client = await admin.connect();
  try {
    const runs: Record<string, (id: number) => Promise<void>> = {};
    for (const e of entries) {
      let enqueue: ((c: pg.PoolClient, seq: number) => Promise<void>) | undefined;
      if (e.system && e.variant) {
        const schema = await e.system.create(admin, e.variant);
        schemas.push(schema);
        liveSchemas.add(schema);
        const producer = await e.system.producer(schema, e.variant, databaseUrl);
        closers.push(() => producer.close());
        enqueue = (c, seq) => producer.enqueue(c, seq);
      }
      runs[e.key] = async (id) => {
        await client.query('BEGIN');
        await client.query(`INSERT INTO "${business}".orders (id, customer, total) VALUES ($1, $2, $3)`, [
          id,
          'c-42',
          id % 977,
        ]);
        if (enqueue) await enqueue(client, id);
        await client.query('COMMIT');
      };
    }
    let nextId = 1;
    for (const run of Object.values(runs)) for (let i = 0; i < 200; i++) await run(nextId++);
    const samples = new Map<string, number[]>(entries.map((e) => [e.key, []]));
    const chunk = 50;
    for (let r = 0; r < options.runs; r++) {
      const elapsed = new Map<string, number>(entries.map((e) => [e.key, 0]));
      const order = rotate(Object.keys(runs), r);
      for (let done = 0; done < options.transactions; done += chunk) {
        for (const key of order) {
          const started = performance.now();
          for (let i = 0; i < chunk; i++) await runs[key]!(nextId++);
          elapsed.set(key, elapsed.get(key)! + performance.now() - started);
        }
      }
      for (const e of entries) samples.get(e.key)!.push(options.transactions / (elapsed.get(e.key)! / 1000));
    }
    return samples;
  } finally {
    client.release();
    for (const close of closers) await close().catch(() => {});
    for (const schema of [...schemas, business]) await dropSchema(admin, schema);
  }
}

/** `items` starting at position `by` (mod length): run r starts with a different system. */
export function rotate<T>(items: readonly T[], by: number): T[] {
  const k = items.length === 0 ? 0 : by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}
