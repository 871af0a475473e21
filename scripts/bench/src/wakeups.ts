import { fork } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createOutbox, pgClient, pgPool, postgres, SqlMessageStore } from '@troutbox/core';
import type pg from 'pg';
import { median, newPool, percentile, schemaName, until } from './util.js';

const here = dirname(fileURLToPath(import.meta.url));
const now = () => performance.timeOrigin + performance.now();

export interface WakeLatencyRow {
  ratePerSec: number;
  messages: number;
  p50: number;
  p99: number;
  max: number;
}

async function listening(pool: pg.Pool, schema: string): Promise<boolean> {
  const { rows } = await pool.query(
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE query = $1 AND state = 'idle'",
    [`LISTEN "troutbox:${schema}.outbox_messages"`],
  );
  return rows[0].n > 0;
}

/**
 * Commit → sender latency with the relay in another process, woken by LISTEN/NOTIFY only (its
 * poll interval is 1 s). `producers` connections each commit single-message transactions at an
 * even share of `ratePerSec`; latency runs from the moment COMMIT returned to the moment the
 * relay process handed the message to its sender.
 */
export async function wakeLatencyBench(options: {
  ratePerSec: number;
  messages: number;
  producers: number;
}): Promise<WakeLatencyRow> {
  const pool = newPool(options.producers + 1);
  const schema = schemaName('wake');
  const dialect = postgres({ schema });
  await new SqlMessageStore({ dialect, db: pgPool(pool) }).migrate();
  const child = fork(join(here, 'relay-process.ts'), [schema, '1000'], {
    execArgv: ['--import', 'tsx', '--conditions=@troutbox/source'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const received = new Map<number, number>();
  let started = false;
  child.on('message', (m: unknown) => {
    if (m === 'started') started = true;
    else for (const [seq, at] of m as [number, number][]) if (!received.has(seq)) received.set(seq, at);
  });
  await until(() => started, 60_000);
  await until(() => listening(pool, schema), 10_000, 20);

  const committed = new Map<number, number>();
  const outbox = createOutbox({ dialect, traceContext: false });
  const clients = await Promise.all(Array.from({ length: options.producers }, () => pool.connect()));
  const interval = (1000 * options.producers) / options.ratePerSec;
  const begin = performance.now();
  await Promise.all(
    clients.map(async (client, p) => {
      // Producer p commits messages p, p + n, p + 2n… each at its slot in the even schedule.
      for (let k = 0; ; k++) {
        const seq = k * options.producers + p;
        if (seq >= options.messages) return;
        const due = begin + k * interval + (p * interval) / options.producers;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        await client.query('BEGIN');
        await outbox.add(pgClient(client), { topic: 'latency', payload: { seq } });
        await client.query('COMMIT');
        committed.set(seq, now());
      }
    }),
  );
  await until(() => received.size >= options.messages, 60_000, 5);
  child.send('stop');
  await new Promise((r) => child.once('exit', r));
  for (const c of clients) c.release();
  await pool.query(`DROP SCHEMA "${schema}" CASCADE`);
  await pool.end();
  // Skip the first tenth: connections, plans and the JIT warming up.
  const latencies: number[] = [];
  for (let seq = Math.floor(options.messages / 10); seq < options.messages; seq++) {
    // A message may reach the relay before its producer has seen COMMIT return.
    latencies.push(Math.max(0, received.get(seq)! - committed.get(seq)!));
  }
  return {
    ratePerSec: options.ratePerSec,
    messages: options.messages,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: Math.max(...latencies),
  };
}

export interface NotifyCostRow {
  variant: string;
  txPerSec: number;
}

/**
 * Producer throughput under concurrency: `producers` connections each commit one-message
 * transactions as fast as they can, for `transactions` in all, with notifications off, rate-
 * limited (the default, 10 ms), and in every transaction. Variants take turns, run by run.
 */
export async function notifyCostBench(options: {
  producers: number;
  transactions: number;
  runs: number;
}): Promise<NotifyCostRow[]> {
  const pool = newPool(options.producers + 1);
  const schema = schemaName('notify');
  await new SqlMessageStore({ dialect: postgres({ schema }), db: pgPool(pool) }).migrate();
  const variants: [string, ReturnType<typeof postgres>][] = [
    ['notifications off', postgres({ schema, notify: false })],
    ['rate-limited NOTIFY (default, ≤ 1 per 10 ms)', postgres({ schema })],
    ['NOTIFY in every transaction', postgres({ schema, notify: { minIntervalMs: 0 } })],
  ];
  const clients = await Promise.all(Array.from({ length: options.producers }, () => pool.connect()));
  const run = async (dialect: ReturnType<typeof postgres>, count: number) => {
    const outbox = createOutbox({ dialect, traceContext: false });
    let left = count;
    const started = performance.now();
    await Promise.all(
      clients.map(async (client) => {
        while (left-- > 0) {
          await client.query('BEGIN');
          await outbox.add(pgClient(client), { topic: 'orders', key: String(left), payload: { n: left } });
          await client.query('COMMIT');
        }
      }),
    );
    return count / ((performance.now() - started) / 1000);
  };
  for (const [, dialect] of variants) await run(dialect, 500);
  const samples = variants.map(() => [] as number[]);
  for (let r = 0; r < options.runs; r++) {
    for (const [i, [, dialect]] of variants.entries())
      samples[i]!.push(await run(dialect, options.transactions));
    await pool.query(`TRUNCATE "${schema}".outbox_messages`);
  }
  for (const c of clients) c.release();
  await pool.query(`DROP SCHEMA "${schema}" CASCADE`);
  await pool.end();
  return variants.map(([variant], i) => ({ variant, txPerSec: median(samples[i]!) }));
}
