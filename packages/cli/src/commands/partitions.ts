import { CliError } from '../cli-error.js';
import { type CommandSpec, type ParsedArgs, stringValue } from '../command.js';
import { count, table, time } from '../format.js';
import { partitionSource } from '../partitions.js';

const describeInterval = (interval: unknown) =>
  typeof interval === 'string' ? interval : `${(interval as { minutes: number }).minutes} minutes`;

/** `troutbox partitions` */
export const partitionsCommand: CommandSpec = {
  path: ['partitions'],
  summary: "list the table's partitions",
  usage: 'partitions',
  details: `Pending and dead counts are exact; rows are the planner's estimate (pg_class.reltuples,
"-" before the table's first ANALYZE). KIND is "range" for partitions made by troutbox, "default"
for the DEFAULT partition, and "foreign" for any other child, which maintenance never drops.`,
  options: {},
  async run(ctx) {
    const c = await ctx.connect({ requireTable: true });
    const report = await partitionSource(c).list();
    if (ctx.json) {
      ctx.outJson({ table: c.dialect.tableName, ...report });
      return 0;
    }
    if (!report.partitioned) {
      ctx.out(`${c.dialect.tableName} is not partitioned (a plain table).\n`);
      return 0;
    }
    if (report.partitions.length === 0) {
      ctx.out(`${c.dialect.tableName} is partitioned; ${report.note ?? 'it has no partitions'}.\n`);
      return 0;
    }
    if (report.options) {
      const o = report.options;
      ctx.out(
        `${c.dialect.tableName}: partitioned by ${describeInterval(o.interval)}, ${o.premake} made ahead, ${o.retention} kept past; retention cutoff ${time(report.retentionCutoff ? new Date(report.retentionCutoff) : null)}\n\n`,
      );
    }
    const when = (iso: string | null) => (iso === null ? '-' : time(new Date(iso)));
    ctx.out(
      table(report.partitions, [
        { header: 'PARTITION', value: (p) => p.name },
        { header: 'KIND', value: (p) => p.kind },
        { header: 'FROM', value: (p) => (p.kind === 'default' ? 'DEFAULT' : when(p.from)) },
        { header: 'TO', value: (p) => when(p.to) },
        {
          header: 'ROWS (EST.)',
          value: (p) => (p.estimatedRows === null ? '-' : count(p.estimatedRows)),
          align: 'right',
        },
        { header: 'PENDING', value: (p) => count(p.pending), align: 'right' },
        { header: 'DEAD', value: (p) => count(p.dead), align: 'right' },
        { header: 'DROPPABLE', value: (p) => (p.droppable ? 'yes' : p.pastRetention ? 'kept' : 'no') },
      ]),
    );
    return 0;
  },
};

function lockId(args: ParsedArgs): string {
  const text = stringValue(args, 'lock-id');
  if (text === undefined) {
    throw new CliError('USAGE', 'partitions maintain needs --lock-id', {
      hint: 'use the advisory lock id your maintenance job uses, so that the two never run at once',
    });
  }
  if (!/^-?\d{1,19}$/.test(text)) {
    throw new CliError('USAGE', `--lock-id must be a 64-bit integer, got ${JSON.stringify(text)}`);
  }
  return text;
}

/** A non-negative integer option, or undefined. */
function count0(args: ParsedArgs, name: string): number | undefined {
  const text = stringValue(args, name);
  if (text === undefined) return undefined;
  if (!/^\d{1,9}$/.test(text)) {
    throw new CliError('USAGE', `--${name} must be a whole number (0 or more), got ${JSON.stringify(text)}`);
  }
  return Number(text);
}

/** `troutbox partitions maintain` */
export const partitionsMaintainCommand: CommandSpec = {
  path: ['partitions', 'maintain'],
  summary: 'run partition maintenance now (PostgreSQL)',
  usage: 'partitions maintain --lock-id <id> [--retention <n>] [--premake <n>] [--move-limit <n>]',
  details: `Creates the partitions ahead (moving rows that waited in DEFAULT into them), and drops
those past retention. A partition past retention never takes a pending or dead message with it:
up to --move-limit such rows are moved into DEFAULT first (same ids and timestamps), and a
partition holding more is kept and reported. Runs in one transaction under the advisory lock
--lock-id; when another run holds it, nothing is done. Retention and premake default to what
the table was created with.`,
  options: {
    'lock-id': {
      type: 'string',
      placeholder: 'id',
      description: "advisory lock id (the same as your maintenance job's)",
    },
    retention: { type: 'string', placeholder: 'n', description: 'past partitions to keep (default: stored)' },
    premake: { type: 'string', placeholder: 'n', description: 'partitions to make ahead (default: stored)' },
    'move-limit': {
      type: 'string',
      placeholder: 'n',
      description: 'pending + dead rows moved out of a partition before dropping it (default: 10000)',
    },
  },
  async run(ctx, args) {
    const id = lockId(args);
    const retention = count0(args, 'retention');
    const premake = count0(args, 'premake');
    const moveLimit = count0(args, 'move-limit');
    const c = await ctx.connect({ requireTable: true });
    const report = await partitionSource(c).maintain({
      lockId: id,
      ...(retention !== undefined ? { retention } : {}),
      ...(premake !== undefined ? { premake } : {}),
      ...(moveLimit !== undefined ? { moveLimit } : {}),
    });
    if (ctx.json) {
      ctx.outJson({ table: c.dialect.tableName, ...report });
      return 0;
    }
    if (!report.ran) {
      ctx.out(`Another process holds the maintenance lock ${id}; nothing done.\n`);
      return 0;
    }
    const list = (names: readonly string[]) => (names.length > 0 ? names.join(', ') : 'none');
    const moved = new Map(report.moved.map((m) => [m.name, m]));
    const dropped = report.dropped.map((name) => {
      const m = moved.get(name);
      return m ? `${name} (moved ${count(m.pending)} pending and ${count(m.dead)} dead into DEFAULT)` : name;
    });
    const lines = [
      `Created: ${list(report.created)}`,
      `Dropped: ${list(dropped)}`,
      `Kept past retention: ${list(
        report.kept.map((k) =>
          k.reason === 'undelivered'
            ? `${k.name} (${count(k.pending)} pending, ${count(k.dead)} dead: more than --move-limit)`
            : `${k.name} (${k.error ?? 'failed'})`,
        ),
      )}`,
    ];
    if (report.skipped.length > 0)
      lines.push(`Skipped: ${list(report.skipped.map((s) => `${s.name} (${s.reason})`))}`);
    if (report.movedFromDefault > 0)
      lines.push(`Moved from DEFAULT into new partitions: ${count(report.movedFromDefault)} rows`);
    if (report.prunedFromDefault > 0)
      lines.push(`Deleted from DEFAULT (sent, past retention): ${count(report.prunedFromDefault)} rows`);
    ctx.out(`${lines.join('\n')}\n`);
    return 0;
  },
};
