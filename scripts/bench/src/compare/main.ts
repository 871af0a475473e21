// `pnpm bench:compare`: troutbox beside graphile-worker, pg-boss, pg-transactional-outbox and
// a raw SQL loop, on the local PostgreSQL, in one run. Writes bench-results/compare.json and
// docs/bench/compare.svg.
//
// Flags: --quick (1 run, smaller sizes)  --runs N  --only drain,latency,producer
//        --systems troutbox,raw,graphile-worker,pg-boss,pg-transactional-outbox
//        --messages N (backlog)  --cap-seconds N (longest drain timed)  --rate N --seconds N (latency)
//        --transactions N (producer)  --chart-only (redraw the SVG from bench-results/compare.json)
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { databaseUrl, fmt, median, newPool, table } from '../util.js';
import { renderChart } from './chart.js';
import {
  type DrainSample,
  drainRun,
  dropSchema,
  killWorkers,
  type LatencySample,
  latencyRun,
  liveSchemas,
  type ProducerEntry,
  producerRuns,
  rotate,
} from './runner.js';
import { systems } from './systems/index.js';
import type { System, SystemId, VariantName } from './types.js';

const here = dirname(fileURLToPath(import.meta.url));
const benchDir = join(here, '..', '..');
const repoRoot = join(benchDir, '..', '..');

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(`--${name}`);
const option = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const numberOption = (name: string, fallback: number): number => {
  const value = option(name);
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} needs a positive number, got ${value}`);
  return n;
};
const outDir = join(benchDir, 'bench-results');
const chartDir = join(repoRoot, 'docs', 'bench');
if (flag('chart-only')) {
  mkdirSync(chartDir, { recursive: true });
  const saved = JSON.parse(readFileSync(join(outDir, 'compare.json'), 'utf8'));
  writeFileSync(join(chartDir, 'compare.svg'), renderChart(saved));
  console.log(`redrawn: ${join(chartDir, 'compare.svg')}`);
  process.exit(0);
}
const quick = flag('quick');
const runs = numberOption('runs', quick ? 1 : 3);
const messages = numberOption('messages', quick ? 20_000 : 100_000);
const capSeconds = numberOption('cap-seconds', quick ? 15 : 60);
const rate = numberOption('rate', 200);
const latencySeconds = numberOption('seconds', quick ? 3 : 10);
const producerTransactions = numberOption('transactions', quick ? 500 : 3000);
const only = option('only')?.split(',');
const want = (section: string) => !only || only.includes(section);
const onlySystems = option('systems')?.split(',');
for (const id of onlySystems ?? []) {
  if (!systems.some((s) => s.id === id)) throw new Error(`unknown system ${id}`);
}
const chosen = systems.filter((s) => s.id === 'troutbox' || !onlySystems || onlySystems.includes(s.id));

export interface Entry {
  key: string;
  system: SystemId;
  label: string;
  variant: VariantName;
  config: string;
}

const entries: Entry[] = chosen.flatMap((s) =>
  (Object.entries(s.variants) as [VariantName, string][]).map(([variant, config]) => ({
    key: `${s.id}/${variant}`,
    system: s.id,
    label: s.id === 'raw' ? s.label : `${s.label} (${variant})`,
    variant,
    config,
  })),
);
const reference = 'troutbox/tuned';
const systemOf = (e: Entry): System => chosen.find((s) => s.id === e.system)!;

/** Enough digits to tell small rates apart (pg-boss at its defaults handles one job per 2 s). */
function fmtValue(n: number): string {
  return fmt(n, Math.abs(n) < 10 ? 2 : Math.abs(n) < 100 ? 1 : 0);
}

function versionOf(name: string): string {
  const file =
    name === '@troutbox/core'
      ? join(repoRoot, 'packages', 'core', 'package.json')
      : join(benchDir, 'node_modules', name, 'package.json');
  const pkg = JSON.parse(readFileSync(file, 'utf8')) as { version: string; engines?: { node?: string } };
  return pkg.engines?.node ? `${pkg.version} (engines: node ${pkg.engines.node})` : pkg.version;
}

/** One figure per entry: the median of its runs, and the median of its per-run ratios to troutbox. */
export interface Figure {
  key: string;
  label: string;
  system: SystemId;
  variant: VariantName;
  samples: number[];
  median: number;
  /** value ÷ troutbox's value in the same run, median over runs. */
  ratio: number;
  note?: string;
  error?: string;
}

function figures(
  samples: Map<string, (number | null)[]>,
  notes: Map<string, string> = new Map(),
  errors: Map<string, string> = new Map(),
): Figure[] {
  const ref = samples.get(reference) ?? [];
  return entries
    .filter((e) => samples.has(e.key) || errors.has(e.key))
    .map((e) => {
      const mine = samples.get(e.key) ?? [];
      const ok = mine.filter((v): v is number => v !== null);
      const ratios = mine
        .map((v, i) => (v === null || ref[i] == null ? null : v / ref[i]!))
        .filter((v): v is number => v !== null && Number.isFinite(v));
      return {
        key: e.key,
        label: e.label,
        system: e.system,
        variant: e.variant,
        samples: ok,
        median: ok.length ? median(ok) : Number.NaN,
        ratio: ratios.length ? median(ratios) : Number.NaN,
        ...(notes.has(e.key) ? { note: notes.get(e.key) } : {}),
        ...(errors.has(e.key) ? { error: errors.get(e.key) } : {}),
      };
    });
}

const admin = newPool(4);
let interrupted = false;
process.on('SIGINT', () => {
  if (interrupted) process.exit(130);
  interrupted = true;
  console.error('\ninterrupted: stopping workers and dropping schemas…');
  killWorkers();
  void (async () => {
    for (const schema of liveSchemas) await dropSchema(admin, schema).catch(() => {});
    process.exit(130);
  })();
});

const { rows: pgRows } = await admin.query<{ server_version: string }>('SHOW server_version');
const cpus = os.cpus();
const meta = {
  date: new Date().toISOString(),
  quick,
  runs,
  machine: {
    cores: cpus.length,
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    ramGiB: Math.round(os.totalmem() / 2 ** 30),
    loadAverage: os.loadavg().map((l) => Number(l.toFixed(2))),
  },
  node: process.version,
  postgres: pgRows[0]?.server_version ?? 'unknown',
  database: new URL(databaseUrl).host,
  versions: Object.fromEntries(
    chosen.filter((s) => s.packageName).map((s) => [s.packageName!, versionOf(s.packageName!)]),
  ),
};
console.log(
  `troutbox vs. alternatives — ${meta.date}\nmachine: ${meta.machine.cores} × ${meta.machine.cpu}, ${meta.machine.ramGiB} GiB (load ${meta.machine.loadAverage.join(' ')}); Node ${meta.node}; PostgreSQL ${meta.postgres}\n` +
    Object.entries(meta.versions)
      .map(([n, v]) => `${n} ${v}`)
      .join('; ') +
    (quick ? '\n--quick: indicative only' : ''),
);
for (const e of entries) console.log(`  ${e.label}: ${e.config}`);

const results: Record<string, unknown> = {
  meta,
  configurations: entries.map(({ key, label, config }) => ({ key, label, config })),
};

function noteOf(samples: DrainSample[]): string | undefined {
  const capped = samples.filter((s) => !s.complete);
  if (capped.length === 0) return undefined;
  const done = capped.map((s) => s.handled);
  return `not drained within ${capSeconds} s in ${capped.length} of ${samples.length} run(s): rate over the first ${capSeconds} s (${fmt(Math.min(...done))}–${fmt(Math.max(...done))} handled)`;
}

if (want('drain')) {
  const drain: Record<string, Figure[]> = {};
  const memory = new Map<string, (number | null)[]>();
  const bySize = new Map<number, Map<string, DrainSample[]>>();
  const errors = new Map<string, string>();
  for (const workers of [1, 4]) bySize.set(workers, new Map(entries.map((e) => [e.key, []])));
  // Interleaved: every run visits every system (in a rotated order) before the next run starts.
  for (let r = 0; r < runs; r++) {
    for (const workers of [1, 4]) {
      for (const e of rotate(entries, r)) {
        const label = `drain ${fmt(messages)}, ${workers} worker${workers > 1 ? 's' : ''}, run ${r + 1}/${runs}: ${e.label}`;
        try {
          const sample = await drainRun(admin, systemOf(e), e.variant, workers, messages, capSeconds * 1000);
          bySize.get(workers)!.get(e.key)!.push(sample);
          console.log(
            `${label} → ${fmt(sample.rate)} msg/s${sample.complete ? '' : ` (capped: ${fmt(sample.handled)} in ${capSeconds} s)`}, peak RSS ${fmt(sample.peakRssMiB, 1)} MiB`,
          );
        } catch (error) {
          errors.set(e.key, (error as Error).message.split('\n')[0]!);
          console.log(`${label} → failed: ${(error as Error).message}`);
        }
      }
    }
  }
  for (const [workers, byEntry] of bySize) {
    const rates = new Map([...byEntry].map(([k, s]) => [k, s.map((x) => x.rate)]));
    const notes = new Map<string, string>();
    for (const [k, s] of byEntry) {
      const n = noteOf(s);
      if (n) notes.set(k, n);
    }
    drain[`workers${workers}`] = figures(rates, notes, errors);
    if (workers === 1)
      for (const [k, s] of byEntry)
        memory.set(
          k,
          s.map((x) => x.peakRssMiB),
        );
  }
  results.drain = {
    messages,
    capSeconds,
    batchNote: 'rate = messages handled ÷ time from start to the last handler call',
    ...drain,
  };
  results.memory = {
    source: 'VmHWM of the worker process, 1-worker drain',
    rows: figures(memory, new Map(), errors),
  };
  for (const workers of [1, 4]) {
    console.log(
      table(
        `drain of ${fmt(messages)} messages, ${workers} worker process${workers > 1 ? 'es' : ''}, no-op handler (median of ${runs})`,
        ['system', 'msg/s', '× troutbox', 'note'],
        drain[`workers${workers}`]!.map((f) => [
          f.label,
          fmtValue(f.median),
          fmt(f.ratio, 3),
          f.error ?? f.note ?? '',
        ]),
      ),
    );
  }
  console.log(
    table(
      `peak RSS of the worker process (1-worker drain, median of ${runs})`,
      ['system', 'MiB', '× troutbox'],
      (results.memory as { rows: Figure[] }).rows.map((f) => [f.label, fmt(f.median, 1), fmt(f.ratio, 2)]),
    ),
  );
}

if (want('latency')) {
  const p50 = new Map<string, (number | null)[]>();
  const p99 = new Map<string, (number | null)[]>();
  const notes = new Map<string, string>();
  const errors = new Map<string, string>();
  const latencyEntries = entries.filter((e) => systemOf(e).latency);
  const settleMs = 10_000;
  for (let r = 0; r < runs; r++) {
    for (const e of rotate(latencyEntries, r)) {
      try {
        const s: LatencySample = await latencyRun(admin, systemOf(e), e.variant, {
          ratePerSec: rate,
          seconds: latencySeconds,
          producers: 4,
          settleMs,
          warmup: Math.min(20, Math.floor(rate * latencySeconds * 0.05)),
        });
        const finite = (v: number) => (Number.isFinite(v) ? v : null);
        p50.set(e.key, [...(p50.get(e.key) ?? []), finite(s.p50)]);
        p99.set(e.key, [...(p99.get(e.key) ?? []), finite(s.p99)]);
        if (s.handled < s.measured) {
          notes.set(
            e.key,
            `did not keep up: ${fmt(s.handled)} of ${fmt(s.measured)} handled within ${settleMs / 1000} s of the last commit`,
          );
        }
        console.log(
          `latency run ${r + 1}/${runs}: ${e.label} → p50 ${fmt(s.p50, 1)} ms, p99 ${fmt(s.p99, 1)} ms (${s.handled}/${s.measured} handled)`,
        );
      } catch (error) {
        errors.set(e.key, (error as Error).message.split('\n')[0]!);
        console.log(`latency run ${r + 1}/${runs}: ${e.label} → failed: ${(error as Error).message}`);
      }
    }
  }
  const rows50 = figures(p50, notes, errors);
  const rows99 = figures(p99, notes, errors);
  results.latency = {
    ratePerSec: rate,
    seconds: latencySeconds,
    producers: 4,
    placement: 'producers and consumer in one worker process; commit (COMMIT returned) → handler called',
    p50: rows50,
    p99: rows99,
  };
  console.log(
    table(
      `steady state: ${rate} messages/s for ${latencySeconds} s, one message per transaction, commit → handler (median of ${runs})`,
      ['system', 'p50 ms', 'p99 ms', 'p50 × troutbox', 'note'],
      rows50.map((f, i) => [
        f.label,
        fmt(f.median, 1),
        fmt(rows99[i]!.median, 1),
        fmt(f.ratio, 2),
        f.error ?? f.note ?? '',
      ]),
    ),
  );
}

if (want('producer')) {
  const producerEntries: ProducerEntry[] = [
    { key: 'reference', system: null, variant: null },
    ...entries.map((e) => ({ key: e.key, system: systemOf(e), variant: e.variant })),
  ];
  // One enqueue API per system: the variants differ only where the producer's SQL does
  // (pg-boss's notify queue); the rest would measure the same statement twice.
  const distinct = producerEntries.filter(
    (p) => !p.system || p.variant === 'tuned' || p.system.id === 'pg-boss',
  );
  const samples = await producerRuns(admin, distinct, { transactions: producerTransactions, runs });
  // The enqueue call does not depend on the consumer's configuration, so rows are named by
  // the call, not by the variant.
  const producerLabels: Record<string, string> = {
    'troutbox/tuned': 'troutbox outbox.add',
    'raw/tuned': 'hand-written INSERT (raw)',
    'graphile-worker/tuned': 'graphile-worker add_job()',
    'pg-boss/tuned': 'pg-boss send({ db }), notify queue',
    'pg-boss/defaults': 'pg-boss send({ db }), default queue',
    'pg-transactional-outbox/tuned': 'pg-transactional-outbox storage',
  };
  const rows = figures(samples).map((f) => ({ ...f, label: producerLabels[f.key] ?? f.label }));
  const alone = samples.get('reference') ?? [];
  results.producer = {
    transactions: producerTransactions,
    businessRowAlone: alone.length ? median(alone) : null,
    rows,
  };
  console.log(
    table(
      `producer cost: ${fmt(producerTransactions)} sequential transactions of one business row + one enqueue, one connection (median of ${runs}; business row alone ${fmt(alone.length ? median(alone) : Number.NaN)} tx/s)`,
      ['system', 'tx/s', '× troutbox'],
      rows.map((f) => [f.label, fmt(f.median), fmt(f.ratio, 3)]),
    ),
  );
}

await admin.end();

mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'compare.json'), `${JSON.stringify(results, null, 2)}\n`);
mkdirSync(chartDir, { recursive: true });
writeFileSync(join(chartDir, 'compare.svg'), renderChart(results as any));
console.log(`\nwritten: ${join(outDir, 'compare.json')} and ${join(chartDir, 'compare.svg')}`);
