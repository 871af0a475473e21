// A worker process: runs one system's consumer (and, for latency, its producers) so that its
// memory is measured alone. Driven by main.ts over IPC (see protocol.ts).
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { type FromWorker, type ToWorker, wallMs } from './protocol.js';
import type { Consumer, System, SystemId } from './types.js';

// Only the measured system's module is loaded, so no other library inflates the RSS.
const modules: Record<SystemId, () => Promise<System>> = {
  troutbox: () => import('./systems/troutbox.js').then((m) => m.troutbox),
  raw: () => import('./systems/raw.js').then((m) => m.raw),
  'graphile-worker': () => import('./systems/graphile-worker.js').then((m) => m.graphileWorker),
  'pg-boss': () => import('./systems/pg-boss.js').then((m) => m.pgBoss),
  'pg-transactional-outbox': () =>
    import('./systems/pg-transactional-outbox.js').then((m) => m.pgTransactionalOutbox),
};

function send(message: FromWorker): void {
  process.send?.(message);
}

function fail(error: unknown): never {
  send({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exit(1);
}
process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);

let sampledPeak = 0;
const sampler = setInterval(() => {
  sampledPeak = Math.max(sampledPeak, process.memoryUsage.rss());
}, 50);

/** VmHWM: the kernel's record of this process's peak resident set. */
function peakRss(): number {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (match) return Math.max(Number(match[1]) * 1024, sampledPeak);
  } catch {}
  return Math.max(sampledPeak, process.memoryUsage.rss());
}

let consumer: (Consumer & { wake?: () => void }) | undefined;
let handled = 0;
let lastAt = 0;
let progress: NodeJS.Timeout | undefined;
let onGo: () => Promise<void> = async () => {};
let cleanup: () => Promise<void> = async () => {};

async function init(message: Extract<ToWorker, { type: 'init' }>): Promise<void> {
  const system = await modules[message.system]();
  const latency = message.mode === 'latency' ? message.latency : undefined;
  if (!latency) {
    consumer = await system.consumer({
      databaseUrl: message.databaseUrl,
      schema: message.schema,
      variant: message.variant,
      wantSeq: false,
      onHandled: () => {
        handled++;
        lastAt = wallMs();
      },
    });
    onGo = async () => {
      progress = setInterval(() => send({ type: 'progress', handled, lastAt }), 100);
      await consumer!.start();
    };
    return;
  }

  // Filled, not sparse: Array#some skips holes.
  const handledAt = new Array<number | undefined>(latency.messages).fill(undefined);
  const committedAt = new Array<number | undefined>(latency.messages).fill(undefined);
  consumer = await system.consumer({
    databaseUrl: message.databaseUrl,
    schema: message.schema,
    variant: message.variant,
    wantSeq: true,
    onHandled: (seq) => {
      handled++;
      if (seq !== undefined && handledAt[seq] === undefined) handledAt[seq] = performance.now();
    },
  });
  const producer = await system.producer(message.schema, message.variant, message.databaseUrl, consumer.wake);
  const pool = new pg.Pool({ connectionString: message.databaseUrl, max: latency.producers });
  pool.on('error', () => {});
  // Connections are opened before the clock starts.
  const warm = await Promise.all(Array.from({ length: latency.producers }, () => pool.connect()));
  for (const c of warm) c.release();
  cleanup = async () => {
    await producer.close();
    await pool.end();
  };

  onGo = async () => {
    await consumer!.start();
    const interval = 1000 / latency.ratePerSec;
    const started = performance.now();
    const inFlight: Promise<void>[] = [];
    // One message per transaction, at a fixed rate whatever the consumer does.
    for (let seq = 0; seq < latency.messages; seq++) {
      const wait = started + seq * interval - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      inFlight.push(
        (async () => {
          const client = await pool.connect();
          try {
            await client.query('BEGIN');
            await producer.enqueue(client, seq);
            await client.query('COMMIT');
            committedAt[seq] = performance.now();
          } finally {
            client.release();
          }
        })(),
      );
    }
    await Promise.all(inFlight);
    const deadline = performance.now() + latency.settleMs;
    while (handledAt.some((h) => h === undefined) && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const latencies: (number | null)[] = [];
    for (let seq = latency.warmup; seq < latency.messages; seq++) {
      const h = handledAt[seq];
      const c = committedAt[seq]!;
      // A message can reach the handler before its producer has seen COMMIT return.
      latencies.push(h === undefined ? null : Math.max(0, h - c));
    }
    send({ type: 'latency', latencies });
  };
}

process.on('message', (message: ToWorker) => {
  void (async () => {
    if (message.type === 'init') {
      await init(message);
      send({ type: 'ready' });
    } else if (message.type === 'go') {
      await onGo();
    } else if (message.type === 'stop') {
      if (progress) clearInterval(progress);
      await consumer?.stop();
      await cleanup();
      clearInterval(sampler);
      send({ type: 'stopped', handled, peakRssBytes: peakRss() });
      process.disconnect();
      // Libraries may leave timers behind; the process has reported, so end it.
      setTimeout(() => process.exit(0), 200).unref();
    }
  })().catch(fail);
});
