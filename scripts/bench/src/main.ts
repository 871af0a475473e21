// `pnpm bench`: troutbox against baselines measured in the same run on the local PostgreSQL
// (and MariaDB/MySQL for the *-mysql sections).
// Flags: --only drain,drain-mysql,telemetry,producer,producer-mysql,latency,wake-latency,notify-cost,
//        ordered-drain,ordered-drain-mysql,orm,brokers
//        --quick (fewer messages and runs)
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BenchTarget, mysqlTarget, mysqlUrl, postgresTarget } from './databases.js';
import { drainBench, orderedDrainBench, telemetryBench } from './drain.js';
import { latencyBench } from './latency.js';
import { partitionBench } from './partitions.js';
import { producerBench } from './producer.js';
import { databaseUrl, fmt, newPool, table } from './util.js';
import { notifyCostBench, wakeLatencyBench } from './wakeups.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const onlyArg = args[args.indexOf('--only') + 1];
const only = args.includes('--only') && onlyArg ? new Set(onlyArg.split(',')) : null;
const want = (section: string) => !only || only.has(section);
const here = dirname(fileURLToPath(import.meta.url));
const results: Record<string, unknown> = {};
const out: string[] = [];
const print = (text: string) => {
  out.push(text);
  console.log(text);
};

const pool = newPool(1);
const { rows } = await pool.query<{ server_version: string }>('SHOW server_version');
await pool.end();
const wantMysql = want('drain-mysql') || want('producer-mysql') || want('ordered-drain-mysql');
const mysqlVersion = wantMysql ? await mysqlTarget.serverVersion() : undefined;
print(
  `troutbox benchmarks — ${new Date().toISOString()}\nmachine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB; Node ${process.version}; PostgreSQL ${rows[0]?.server_version} at ${new URL(databaseUrl).host}${mysqlVersion ? `; MariaDB/MySQL ${mysqlVersion} at ${new URL(mysqlUrl).host}` : ''}${quick ? '; --quick' : ''}`,
);

async function drainSection(target: BenchTarget, key: string, title: string) {
  const messages = quick ? 20_000 : 100_000;
  const runs = quick ? 1 : 3;
  const drain = await drainBench(target, { messages, runs, batchSize: 500 });
  results[key] = { database: target.label, messages, runs, batchSize: 500, rows: drain };
  print(
    table(
      `${title}: ${fmt(messages)} pending messages, no-op sender, batch 500 (median of ${runs})`,
      ['workers', 'troutbox msg/s', 'raw SQL loop msg/s', 'troutbox / raw'],
      drain.map((r) => [
        `${r.workers} relay${r.workers > 1 ? 's' : ''}`,
        fmt(r.troutbox),
        fmt(r.raw),
        `${fmt((100 * r.troutbox) / r.raw, 1)}%`,
      ]),
    ),
  );
}

async function producerSection(target: BenchTarget, key: string, title: string) {
  const transactions = quick ? 1000 : 5000;
  const runs = quick ? 1 : 5;
  const producer = await producerBench(target, { transactions, runs });
  results[key] = { database: target.label, transactions, runs, rows: producer };
  const alone = producer[0]!.txPerSec;
  const hand = producer[1]!.txPerSec;
  print(
    table(
      `${title}: ${fmt(transactions)} sequential one-row business transactions (median of ${runs})`,
      ['transaction', 'tx/s', 'vs. business row alone', 'vs. hand-written INSERT'],
      producer.map((r) => [
        r.variant,
        fmt(r.txPerSec),
        `${fmt((100 * r.txPerSec) / alone, 1)}%`,
        r.variant.includes('alone') ? '' : `${fmt((100 * r.txPerSec) / hand, 1)}%`,
      ]),
    ),
  );
}

if (want('drain')) await drainSection(postgresTarget, 'drain', '(a) relay drain on PostgreSQL');
if (want('drain-mysql')) await drainSection(mysqlTarget, 'drainMysql', '(a) relay drain on MariaDB');

if (want('telemetry')) {
  const messages = quick ? 20_000 : 100_000;
  const runs = quick ? 1 : 3;
  const rows = await telemetryBench({ messages, runs, batchSize: 500 });
  results.telemetry = { messages, runs, rows };
  const base = rows[0]!.msgPerSec;
  print(
    table(
      `telemetry cost: drain of ${fmt(messages)} messages, 1 relay, batch 500 (median of ${runs})`,
      ['telemetry', 'msg/s', 'vs. off'],
      rows.map((r) => [r.telemetry, fmt(r.msgPerSec), `${fmt((100 * r.msgPerSec) / base, 1)}%`]),
    ),
  );
}

if (want('producer')) await producerSection(postgresTarget, 'producer', '(b) producer cost on PostgreSQL');
if (want('producer-mysql'))
  await producerSection(mysqlTarget, 'producerMysql', '(b) producer cost on MariaDB');

if (want('latency')) {
  const messages = quick ? 50 : 200;
  const latency = [
    await latencyBench({ messages, ratePerSec: 20, pollIntervalMs: 500, wake: false }),
    await latencyBench({ messages, ratePerSec: 20, pollIntervalMs: 500, wake: true }),
  ];
  results.latency = latency;
  print(
    table(
      `(c) commit → sender latency, single messages at 20/s`,
      ['mode', 'messages', 'p50 ms', 'p99 ms'],
      latency.map((r) => [r.mode, r.messages, fmt(r.p50, 1), fmt(r.p99, 1)]),
    ),
  );
}

if (want('wake-latency')) {
  // The relay runs in a child process: only LISTEN/NOTIFY wakes it (its poll is 1 s).
  const rows = [
    await wakeLatencyBench({ ratePerSec: 100, messages: quick ? 500 : 2000, producers: 2 }),
    await wakeLatencyBench({ ratePerSec: 2000, messages: quick ? 5000 : 20_000, producers: 8 }),
  ];
  results.wakeLatency = rows;
  print(
    table(
      '(c) commit → sender latency, relay in another process woken by LISTEN/NOTIFY (poll 1 s), single-message transactions',
      ['rate', 'messages', 'p50 ms', 'p99 ms', 'max ms'],
      rows.map((r) => [
        `${fmt(r.ratePerSec)}/s`,
        fmt(r.messages),
        fmt(r.p50, 2),
        fmt(r.p99, 2),
        fmt(r.max, 1),
      ]),
    ),
  );
}

if (want('notify-cost')) {
  const producers = 8;
  const transactions = quick ? 2000 : 10_000;
  const runs = quick ? 1 : 3;
  const rows = await notifyCostBench({ producers, transactions, runs });
  results.notifyCost = { producers, transactions, runs, rows };
  const base = rows[0]!.txPerSec;
  print(
    table(
      `producer throughput and notifications: ${producers} concurrent producers, ${fmt(transactions)} one-message transactions (median of ${runs})`,
      ['notifications', 'tx/s', 'vs. off'],
      rows.map((r) => [r.variant, fmt(r.txPerSec), `${fmt((100 * r.txPerSec) / base, 1)}%`]),
    ),
  );
}

async function orderedDrainSection(target: BenchTarget, key: string, title: string) {
  const messages = quick ? 20_000 : 100_000;
  const runs = quick ? 1 : 3;
  const rows = await orderedDrainBench(target, { messages, runs, batchSize: 500 });
  results[key] = { database: target.label, messages, keys: 1000, runs, batchSize: 500, rows };
  print(
    table(
      `${title}: ${fmt(messages)} pending messages over 1,000 keys, no-op sender, batch 500 (median of ${runs})`,
      ['workers', 'unordered msg/s', "ordering: 'key' msg/s", 'ordered / unordered'],
      rows.map((r) => [
        `${r.workers} relay${r.workers > 1 ? 's' : ''}`,
        fmt(r.unordered),
        fmt(r.ordered),
        `${fmt((100 * r.ordered) / r.unordered, 1)}%`,
      ]),
    ),
  );
}

if (want('ordered-drain'))
  await orderedDrainSection(postgresTarget, 'orderedDrain', 'ordered vs unordered drain on PostgreSQL');
if (want('ordered-drain-mysql'))
  await orderedDrainSection(mysqlTarget, 'orderedDrainMysql', 'ordered vs unordered drain on MariaDB');

if (want('partitions')) {
  const messages = quick ? 100_000 : 1_000_000;
  const chunks = 10;
  const rows = await partitionBench({ messages, chunks, log: (line) => console.log(line) });
  results.partitions = { messages, chunks, rows };
  const plain = rows.find((r) => r.table === 'plain')!;
  print(
    table(
      `partitioned vs plain table: ${fmt(messages)} messages in ${chunks} chunks (insert, then drain with 1 relay, batch 500), retention job running`,
      ['table', 'drain msg/s', 'vs. plain', 'size / rows at end', 'a window later', 'retention job'],
      rows.map((r) => [
        r.table,
        fmt(r.drainPerSec),
        `${fmt((100 * r.drainPerSec) / plain.drainPerSec, 1)}%`,
        `${fmt(r.sizeBytes / 2 ** 20, 1)} MiB / ${fmt(r.rowsLeft)}`,
        `${fmt(r.settledSizeBytes / 2 ** 20, 1)} MiB / ${fmt(r.settledRowsLeft)}`,
        r.retentionNote,
      ]),
    ),
  );
}

// Rows contributed by the ORM and broker packages: every module in ./orm and ./brokers exports `bench`.
async function modules(folder: string): Promise<{ name: string; bench: (o: any) => Promise<any> }[]> {
  let files: string[] = [];
  try {
    files = readdirSync(join(here, folder)).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
  } catch {
    return [];
  }
  return Promise.all(
    files
      .sort()
      .map(async (f) => ({ name: f.replace(/\.ts$/, ''), ...(await import(join(here, folder, f))) })),
  );
}

if (want('orm')) {
  const transactions = quick ? 500 : 3000;
  const runs = quick ? 1 : 3;
  const orm: any[] = [];
  for (const m of await modules('orm')) {
    try {
      // A module reports one row, or one per database it runs on.
      orm.push(...[await m.bench({ databaseUrl, transactions, runs })].flat());
    } catch (error) {
      orm.push({
        orm: `${m.name} (failed: ${(error as Error).message})`,
        withOutboxTxPerSec: Number.NaN,
        withOrmInsertTxPerSec: Number.NaN,
      });
    }
  }
  results.orm = { transactions, runs, rows: orm };
  if (orm.length > 0) {
    print(
      table(
        `ORM producer cost: one business row + one message, ${fmt(transactions)} transactions (median of ${runs})`,
        ['ORM', 'through troutbox tx/s', "ORM's own insert tx/s", 'troutbox / ORM insert'],
        orm.map((r) => [
          r.orm,
          fmt(r.withOutboxTxPerSec),
          fmt(r.withOrmInsertTxPerSec),
          `${fmt((100 * r.withOutboxTxPerSec) / r.withOrmInsertTxPerSec, 1)}%`,
        ]),
      ),
    );
  }
}

if (want('brokers')) {
  const messages = quick ? 5000 : 50_000;
  const runs = quick ? 1 : 3;
  const brokers: any[] = [];
  for (const m of await modules('brokers')) {
    try {
      brokers.push(await m.bench({ databaseUrl, messages, runs }));
    } catch (error) {
      brokers.push({
        broker: `${m.name} (failed: ${(error as Error).message})`,
        messages,
        outboxPerSec: Number.NaN,
        rawPerSec: Number.NaN,
      });
    }
  }
  results.brokers = { messages, runs, rows: brokers };
  if (brokers.length > 0) {
    print(
      table(
        `outbox → broker: ${fmt(messages)} messages (median of ${runs})`,
        ['broker', 'outbox → broker msg/s', 'raw publish msg/s', 'outbox / raw'],
        brokers.map((r) => [
          r.broker,
          fmt(r.outboxPerSec),
          fmt(r.rawPerSec),
          `${fmt((100 * r.outboxPerSec) / r.rawPerSec, 1)}%`,
        ]),
      ),
    );
  }
}

const dir = join(here, '..', 'bench-results');
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
writeFileSync(join(dir, 'latest.md'), `${out.join('\n')}\n`);
console.log(`\nwritten to ${join(dir, 'latest.json')} and latest.md`);
