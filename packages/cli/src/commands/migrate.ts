import { CliError } from '../cli-error.js';
import { type CommandSpec, flag } from '../command.js';

/** `troutbox migrate` */
export const migrateCommand: CommandSpec = {
  path: ['migrate'],
  summary: 'create or upgrade the outbox table (safe to run from several processes at once)',
  usage: 'migrate [--partitioned]',
  details: `Creates the schema (PostgreSQL) or database (MySQL) if needed, the outbox table and its
indexes, and records the applied version in <table>_migrations.`,
  options: {
    partitioned: {
      type: 'boolean',
      description: 'create a table partitioned by day (PostgreSQL; not supported yet)',
    },
  },
  async run(ctx, args) {
    if (flag(args, 'partitioned')) {
      // Refused before connecting: a plain table created by mistake would have to be migrated
      // by hand into a partitioned one later.
      throw new CliError(
        'USAGE',
        'migrate --partitioned is not supported yet: partitioned tables are not available in this version of troutbox',
        {
          hint: 'run troutbox migrate without --partitioned for a plain table',
        },
      );
    }
    const c = await ctx.connect();
    const result = await c.store.migrate();
    if (ctx.json) {
      ctx.outJson({ table: c.dialect.tableName, applied: result.applied, version: result.version });
    } else if (result.applied.length === 0) {
      ctx.out(`${c.dialect.tableName} is up to date (version ${result.version}).\n`);
    } else {
      ctx.out(
        `Migrated ${c.dialect.tableName} to version ${result.version} (applied ${result.applied.join(', ')}).\n`,
      );
    }
    return 0;
  },
};
