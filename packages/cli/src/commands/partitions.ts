import type { CommandSpec } from '../command.js';
import { count, table } from '../format.js';
import { partitionSource } from '../partitions.js';

const nullable = (n: number | null) => (n === null ? '-' : count(n));

/** `troutbox partitions` */
export const partitionsCommand: CommandSpec = {
  path: ['partitions'],
  summary: "list the table's partitions",
  usage: 'partitions',
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
    ctx.out(
      table(report.partitions, [
        { header: 'PARTITION', value: (p) => p.name },
        { header: 'FROM', value: (p) => (p.isDefault ? 'DEFAULT' : (p.from ?? '-')) },
        { header: 'TO', value: (p) => p.to ?? '-' },
        { header: 'PENDING', value: (p) => nullable(p.pending), align: 'right' },
        { header: 'DEAD', value: (p) => nullable(p.dead), align: 'right' },
      ]),
    );
    return 0;
  },
};

/** `troutbox partitions maintain` */
export const partitionsMaintainCommand: CommandSpec = {
  path: ['partitions', 'maintain'],
  summary: 'run partition maintenance now (not supported yet)',
  usage: 'partitions maintain',
  details: `Creates future partitions and drops those past retention, never one holding pending or
dead messages. Not supported yet: this version of troutbox manages plain tables only.`,
  options: {},
  async run(ctx) {
    const c = await ctx.connect({ requireTable: true });
    const report = await partitionSource(c).maintain();
    if (ctx.json) {
      ctx.outJson({ table: c.dialect.tableName, ...report });
    } else if (!report.ran) {
      ctx.out('Another process is running maintenance; nothing done.\n');
    } else {
      const list = (names: readonly string[]) => (names.length > 0 ? names.join(', ') : 'none');
      ctx.out(
        `Created: ${list(report.created)}\nDropped: ${list(report.dropped)}\nKept (hold pending or dead messages): ${list(report.kept)}\n`,
      );
    }
    return 0;
  },
};
