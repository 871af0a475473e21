// Draws bench-results/compare.json as one SVG: a panel of horizontal bars per metric.
import type { Figure } from './main.js';
import type { SystemId } from './types.js';

interface Results {
  meta: {
    date: string;
    quick: boolean;
    runs: number;
    machine: { cores: number; cpu: string; ramGiB: number; loadAverage: number[] };
    node: string;
    postgres: string;
    versions: Record<string, string>;
  };
  configurations: { key: string; label: string; config: string }[];
  drain?: { messages: number; capSeconds: number; workers1: Figure[]; workers4: Figure[] };
  memory?: { rows: Figure[] };
  latency?: { ratePerSec: number; seconds: number; p50: Figure[]; p99: Figure[] };
  producer?: { transactions: number; businessRowAlone: number | null; rows: Figure[] };
}

const colours: Record<SystemId, string> = {
  troutbox: '#0f7b6c',
  raw: '#8a8f98',
  'graphile-worker': '#d9822b',
  'pg-boss': '#4f5fbf',
  'pg-transactional-outbox': '#b0457a',
};

const width = 1180;
const labelWidth = 300;
const barX = labelWidth + 14;
const barMax = 560;
const rowHeight = 22;
const font = "font-family='Helvetica, Arial, sans-serif'";

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function num(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/** A short form of a ratio to troutbox: "1.00×", "0.012×", "85×". */
function ratioText(r: number): string {
  if (!Number.isFinite(r)) return '';
  if (r >= 10) return `${num(r, 0)}× troutbox`;
  if (r >= 0.1) return `${num(r, 2)}× troutbox`;
  return `${r.toPrecision(2)}× troutbox`;
}

interface Bar {
  value: number;
  text: string;
  shade: number;
}

interface Row {
  label: string;
  system: SystemId;
  bars: Bar[];
  mark?: string;
}

interface Panel {
  title: string;
  subtitle: string;
  log: boolean;
  rows: Row[];
}

function scale(panel: Panel): { x: (v: number) => number; ticks: number[] } {
  const values = panel.rows
    .flatMap((r) => r.bars.map((b) => b.value))
    .filter((v) => Number.isFinite(v) && v > 0);
  const max = values.length ? Math.max(...values) : 1;
  if (!panel.log) {
    const step = 10 ** Math.floor(Math.log10(max));
    const top = Math.ceil((max * 1.05) / step) * step;
    const ticks = Array.from({ length: Math.round(top / step) + 1 }, (_, i) => i * step).filter(
      (_t, i, all) => all.length <= 6 || i % 2 === 0,
    );
    return { x: (v) => (Math.max(0, v) / top) * barMax, ticks };
  }
  const lo = 10 ** Math.floor(Math.log10(Math.min(...values)));
  const hi = 10 ** Math.ceil(Math.log10(max * 1.05));
  const span = Math.log10(hi) - Math.log10(lo);
  const ticks: number[] = [];
  for (let t = lo; t <= hi * 1.0001; t *= 10) ticks.push(t);
  return {
    x: (v) => (v <= 0 ? 0 : (Math.max(0, Math.log10(v) - Math.log10(lo)) / span) * barMax),
    ticks,
  };
}

function tickText(t: number): string {
  if (t === 0) return '0';
  if (t >= 1_000_000) return `${num(t / 1_000_000)}M`;
  if (t >= 1000) return `${num(t / 1000)}k`;
  return num(t, t < 1 ? 2 : 0);
}

function drawPanel(panel: Panel, y0: number): { svg: string; height: number } {
  const { x, ticks } = scale(panel);
  const parts: string[] = [];
  parts.push(
    `<text x='20' y='${y0 + 18}' ${font} font-size='16' font-weight='bold' fill='#111'>${esc(panel.title)}</text>`,
  );
  parts.push(`<text x='20' y='${y0 + 36}' ${font} font-size='12' fill='#555'>${esc(panel.subtitle)}</text>`);
  const top = y0 + 48;
  const height = panel.rows.reduce((h, r) => h + Math.max(rowHeight, r.bars.length * 12 + 6), 0);
  for (const t of ticks) {
    const tx = barX + x(t);
    parts.push(
      `<line x1='${tx}' y1='${top}' x2='${tx}' y2='${top + height}' stroke='#e3e3e3' stroke-width='1'/>`,
    );
    parts.push(
      `<text x='${tx}' y='${top + height + 13}' ${font} font-size='10' fill='#777' text-anchor='middle'>${tickText(t)}</text>`,
    );
  }
  let y = top;
  for (const row of panel.rows) {
    const h = Math.max(rowHeight, row.bars.length * 12 + 6);
    const weight = row.system === 'troutbox' ? " font-weight='bold'" : '';
    parts.push(
      `<text x='${labelWidth}' y='${y + h / 2 + 4}' ${font} font-size='12' fill='#222' text-anchor='end'${weight}>${esc(row.label)}</text>`,
    );
    const barHeight = row.bars.length > 1 ? 10 : 14;
    row.bars.forEach((bar, i) => {
      const by = y + (h - row.bars.length * (barHeight + 2)) / 2 + i * (barHeight + 2);
      const w = Number.isFinite(bar.value) ? Math.max(1, x(bar.value)) : 0;
      if (w > 0) {
        parts.push(
          `<rect x='${barX}' y='${by}' width='${w.toFixed(1)}' height='${barHeight}' fill='${colours[row.system]}' fill-opacity='${bar.shade}' rx='2'/>`,
        );
      }
      parts.push(
        `<text x='${barX + w + 6}' y='${by + barHeight - 2}' ${font} font-size='11' fill='#333'>${esc(bar.text)}</text>`,
      );
    });
    if (row.mark) {
      parts.push(
        `<text x='${labelWidth + 4}' y='${y + h / 2 + 4}' ${font} font-size='11' fill='#b00'>${row.mark}</text>`,
      );
    }
    y += h;
  }
  return { svg: parts.join('\n'), height: 48 + height + 24 };
}

/** The figures of one metric as rows; failures and notes become footnote marks. */
function rows(
  figures: Figure[],
  unit: string,
  digits: number,
  footnotes: string[],
  shadeOf: (f: Figure) => number,
): Row[] {
  return figures.map((f) => {
    const note = f.error ? `${f.label}: failed — ${f.error}` : f.note ? `${f.label}: ${f.note}` : undefined;
    let mark: string | undefined;
    if (note) {
      footnotes.push(note);
      mark = `[${footnotes.length}]`;
    }
    const value = f.median;
    const shown = digits === 0 && value < 10 ? 2 : digits === 0 && value < 100 ? 1 : digits;
    const text = Number.isFinite(value)
      ? `${num(value, shown)} ${unit}${f.key === 'troutbox/tuned' ? '' : ` · ${ratioText(f.ratio)}`}`
      : 'n/a';
    return { label: f.label, system: f.system, mark, bars: [{ value, text, shade: shadeOf(f) }] };
  });
}

export function renderChart(results: Results): string {
  const shade = (f: Figure) => (f.variant === 'defaults' ? 0.45 : 0.9);
  const footnotes: string[] = [];
  const panels: Panel[] = [];
  const m = results.meta;
  if (results.drain) {
    const d = results.drain;
    for (const [workers, figures] of [
      [1, d.workers1],
      [4, d.workers4],
    ] as const) {
      panels.push({
        title: `Drain rate, ${workers} worker process${workers > 1 ? 'es' : ''} — higher is better`,
        subtitle: `${num(d.messages)}-message backlog, no-op handler; messages/s, log scale${d.capSeconds ? `; runs stop after ${d.capSeconds} s` : ''}`,
        log: true,
        rows: rows(figures, 'msg/s', 0, footnotes, shade),
      });
    }
  }
  if (results.latency) {
    const l = results.latency;
    const p99 = new Map(l.p99.map((f) => [f.key, f]));
    const latencyRows = rows(l.p50, 'ms', 1, footnotes, shade).map((row, i) => {
      const f50 = l.p50[i]!;
      const f99 = p99.get(f50.key);
      const bars: Bar[] = [{ ...row.bars[0]!, text: `p50 ${row.bars[0]!.text}` }];
      if (f99) {
        bars.push({
          value: f99.median,
          text: Number.isFinite(f99.median)
            ? `p99 ${num(f99.median, 1)} ms${f99.key === 'troutbox/tuned' ? '' : ` · ${ratioText(f99.ratio)}`}`
            : 'p99 n/a (not all handled)',
          shade: shade(f99) * 0.55,
        });
      }
      return { ...row, bars };
    });
    panels.push({
      title: 'Steady-state latency, commit → handler — lower is better',
      subtitle: `${l.ratePerSec} messages/s for ${l.seconds} s, one message per transaction, producers in the worker's process; ms, log scale; upper bar p50, lower bar p99`,
      log: true,
      rows: latencyRows,
    });
  }
  if (results.producer) {
    const p = results.producer;
    panels.push({
      title: 'Producer: business row + enqueue in one transaction — higher is better',
      subtitle: `${num(p.transactions)} sequential transactions on one connection; tx/s${p.businessRowAlone ? ` (business row alone: ${num(p.businessRowAlone)} tx/s)` : ''}`,
      log: false,
      rows: rows(p.rows, 'tx/s', 0, footnotes, shade),
    });
  }
  if (results.memory) {
    panels.push({
      title: 'Peak memory of the worker process — lower is better',
      subtitle:
        'peak RSS (VmHWM) during the 1-worker drain, MiB; every worker process runs under the same tsx loader',
      log: false,
      rows: rows(results.memory.rows, 'MiB', 0, footnotes, shade),
    });
  }

  const body: string[] = [];
  let y = 70;
  for (const panel of panels) {
    const { svg, height } = drawPanel(panel, y);
    body.push(svg);
    y += height + 10;
  }
  const footer: string[] = [
    `Machine: ${m.machine.cores} cores × ${m.machine.cpu}, ${m.machine.ramGiB} GiB RAM (load average at start ${m.machine.loadAverage.join(' ')}). Node ${m.node}. PostgreSQL ${m.postgres}, all systems on the same server, each in its own schema.`,
    `Versions: ${Object.entries(m.versions)
      .map(([n, v]) => `${n} ${v}`)
      .join('; ')}.`,
    `Each figure is the median of ${m.runs} run${m.runs > 1 ? 's' : ''}, systems interleaved run by run; "× troutbox" is the median of per-run ratios to troutbox (tuned).${m.quick ? ' QUICK RUN (--quick): smaller sizes, one run, indicative only.' : ''}`,
    'Solid bars: configured as each project documents for throughput ("tuned"); pale bars: as installed ("defaults"). Configurations:',
    ...results.configurations.map((c) => `  ${c.label}: ${c.config}`),
    ...footnotes.map((n, i) => `[${i + 1}] ${n}`),
  ];
  const lines = footer.flatMap((line) => wrap(line, 175));
  const footerSvg = lines
    .map(
      (line, i) =>
        `<text x='20' y='${y + 14 + i * 15}' ${font} font-size='11' fill='#444' xml:space='preserve'>${esc(line)}</text>`,
    )
    .join('\n');
  const height = y + 14 + lines.length * 15 + 16;
  return [
    `<svg xmlns='http://www.w3.org/2000/svg' width='${width}' height='${height}' viewBox='0 0 ${width} ${height}'>`,
    `<rect width='100%' height='100%' fill='#fff'/>`,
    `<text x='20' y='32' ${font} font-size='22' font-weight='bold' fill='#111'>troutbox vs. graphile-worker, pg-boss, pg-transactional-outbox and a raw SQL loop</text>`,
    `<text x='20' y='54' ${font} font-size='12' fill='#555'>${esc(`pnpm bench:compare · ${m.date}${m.quick ? ' · --quick (indicative only)' : ''}`)}</text>`,
    ...body,
    footerSvg,
    '</svg>',
    '',
  ].join('\n');
}

function wrap(line: string, max: number): string[] {
  if (line.length <= max) return [line];
  const indent = line.match(/^\s*/)?.[0] ?? '';
  const out: string[] = [];
  let rest = line;
  while (rest.length > max) {
    let cut = rest.lastIndexOf(' ', max);
    if (cut <= indent.length) cut = max;
    out.push(rest.slice(0, cut));
    rest = `${indent}    ${rest.slice(cut).trimStart()}`;
  }
  out.push(rest);
  return out;
}
