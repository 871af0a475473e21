import pg from 'pg';

export const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function schemaName(prefix: string): string {
  return `bench_${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
}

export function newPool(max = 4): pg.Pool {
  const pool = new pg.Pool({ connectionString: databaseUrl, max });
  pool.on('error', () => {});
  return pool;
}

/** Resolve when `check` returns true, polling every `intervalMs`, or throw after `timeoutMs`. */
export async function until(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  intervalMs = 5,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('benchmark condition not reached before the deadline');
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export function fmt(n: number, digits = 0): string {
  if (!Number.isFinite(n)) return 'n/a';
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

export function table(title: string, header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    `| ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  const sep = `|${widths.map((w, i) => (i === 0 ? `${'-'.repeat(w + 1)}-` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [`\n### ${title}\n`, line(header), sep, ...cells.slice(1).map(line)].join('\n');
}

/**
 * Median transactions/s of each variant over `runs` runs of `transactions` transactions. Each
 * variant gets a fresh id per transaction; after a warm-up of connections, plans and the JIT,
 * the variants take turns every 50 transactions, so a change in the machine's load falls on all.
 */
export async function interleaved<V extends string>(
  variants: Record<V, (id: number) => Promise<unknown>>,
  options: { transactions: number; runs: number },
): Promise<Record<V, number>> {
  const names = Object.keys(variants) as V[];
  let nextId = 1;
  for (const name of names) for (let i = 0; i < 300; i++) await variants[name](nextId++);
  const samples = Object.fromEntries(names.map((n) => [n, [] as number[]])) as Record<V, number[]>;
  const chunk = 50;
  for (let r = 0; r < options.runs; r++) {
    const elapsed = Object.fromEntries(names.map((n) => [n, 0])) as Record<V, number>;
    for (let done = 0; done < options.transactions; done += chunk) {
      const n = Math.min(chunk, options.transactions - done);
      for (const name of names) {
        const started = performance.now();
        for (let i = 0; i < n; i++) await variants[name](nextId++);
        elapsed[name] += performance.now() - started;
      }
    }
    for (const name of names) samples[name].push((options.transactions * 1000) / elapsed[name]);
  }
  return Object.fromEntries(names.map((n) => [n, median(samples[n])])) as Record<V, number>;
}
