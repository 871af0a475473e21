import type { PartitionInterval, PartitionOptions } from '@troutbox/core';
import { CliError } from '../cli-error.js';
import { type CommandSpec, flag, type ParsedArgs, stringValue } from '../command.js';

function interval(text: string): PartitionInterval {
  if (text === 'hour' || text === 'day' || text === 'week' || text === 'month') return text;
  const minutes = /^(\d{1,4})m$/.exec(text);
  if (minutes) return { minutes: Number(minutes[1]) };
  throw new CliError(
    'USAGE',
    `--interval must be hour, day, week, month or minutes like 15m, got ${JSON.stringify(text)}`,
  );
}

function whole(args: ParsedArgs, name: string): number | undefined {
  const text = stringValue(args, name);
  if (text === undefined) return undefined;
  if (!/^\d{1,9}$/.test(text)) {
    throw new CliError('USAGE', `--${name} must be a whole number (0 or more), got ${JSON.stringify(text)}`);
  }
  return Number(text);
}

/** The partition options given on the command line, or undefined for a plain table. */
function partitionOptions(args: ParsedArgs): PartitionOptions | undefined {
  const given = ['interval', 'premake', 'retention'].filter((o) => args.values[o] !== undefined);
  if (!flag(args, 'partitioned')) {
    if (given.length > 0) {
      throw new CliError('USAGE', `${given.map((g) => `--${g}`).join(' and ')} go with --partitioned`);
    }
    return undefined;
  }
  const text = stringValue(args, 'interval');
  const premake = whole(args, 'premake');
  const retention = whole(args, 'retention');
  return {
    ...(text !== undefined ? { interval: interval(text) } : {}),
    ...(premake !== undefined ? { premake } : {}),
    ...(retention !== undefined ? { retention } : {}),
  };
}

/** `troutbox migrate` */
export const migrateCommand: CommandSpec = {
  path: ['migrate'],
  summary: 'create or upgrade the outbox table (safe to run from several processes at once)',
  usage: 'migrate [--partitioned [--interval <i>] [--premake <n>] [--retention <n>]]',
  details: `Creates the schema (PostgreSQL) or database (MySQL) if needed, the outbox table and its
indexes, and records the applied version in <table>_migrations.

With --partitioned (PostgreSQL), the table is partitioned by range of created_at, with a DEFAULT
partition and the partitions from now to --premake ahead; the interval, premake and retention
are stored with the table for troutbox partitions maintain. Chosen when the table is created:
an existing plain table is not converted.`,
  options: {
    partitioned: {
      type: 'boolean',
      description: 'create a table partitioned by range of created_at (PostgreSQL)',
    },
    interval: {
      type: 'string',
      placeholder: 'i',
      description: 'with --partitioned: hour, day, week, month, or minutes like 15m (default: day)',
    },
    premake: {
      type: 'string',
      placeholder: 'n',
      description: 'with --partitioned: partitions made ahead (default: 7)',
    },
    retention: {
      type: 'string',
      placeholder: 'n',
      description: 'with --partitioned: past partitions kept (default: 7)',
    },
  },
  async run(ctx, args) {
    const partitioned = partitionOptions(args);
    const c = await ctx.connect(partitioned ? { partitioned } : {});
    const result = await c.store.migrate();
    const mode = c.dialect.partitions?.options;
    if (ctx.json) {
      ctx.outJson({
        table: c.dialect.tableName,
        applied: result.applied,
        version: result.version,
        ...(mode ? { partitioned: mode } : {}),
      });
    } else if (result.applied.length === 0) {
      ctx.out(`${c.dialect.tableName} is up to date (version ${result.version}).\n`);
    } else {
      ctx.out(
        `Migrated ${c.dialect.tableName} to version ${result.version} (applied ${result.applied.join(', ')}).\n`,
      );
      if (mode) {
        const every = typeof mode.interval === 'string' ? mode.interval : `${mode.interval.minutes} minutes`;
        ctx.out(
          `Partitioned by ${every}: ${mode.premake} made ahead, ${mode.retention} kept past. Keep partitions coming with\ntroutbox partitions maintain --lock-id <id>, or startPartitionMaintenance() in your app.\n`,
        );
      }
    }
    return 0;
  },
};
