import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { isOutboxError } from '@troutbox/core';
import { CliError, exitCodes } from './cli-error.js';
import { type CommandContext, type CommandSpec, globalOptions, type OptionSpec } from './command.js';
import { deadCommands } from './commands/dead.js';
import { migrateCommand } from './commands/migrate.js';
import { partitionsCommand, partitionsMaintainCommand } from './commands/partitions.js';
import { statusCommand } from './commands/status.js';
import { describe, type OutboxConnection, openOutbox, parseDatabaseUrl, tableMissing } from './connection.js';
import { type CliIO, processIO } from './io.js';

/** Every command, in the order `--help` lists them. */
export const commands: readonly CommandSpec[] = [
  statusCommand,
  ...deadCommands,
  migrateCommand,
  partitionsCommand,
  partitionsMaintainCommand,
];

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

// Every option of every command, so that the first pass can tell an option's value (`--topic
// dead`) from a command word; option names mean the same in every command.
const allOptions: Record<string, OptionSpec> = Object.assign(
  { version: { type: 'boolean', description: 'print the version' } },
  globalOptions,
  ...commands.map((c) => c.options),
);

type ParseConfig = Record<string, { type: 'string' | 'boolean'; short?: string }>;
const parserConfig = (options: Record<string, OptionSpec>): ParseConfig =>
  Object.fromEntries(
    Object.entries(options).map(([name, o]) => [
      name,
      o.short ? { type: o.type, short: o.short } : { type: o.type },
    ]),
  );

const optionLabel = (name: string, o: OptionSpec) =>
  `${o.short ? `-${o.short}, ` : '    '}--${name}${o.placeholder ? ` <${o.placeholder}>` : ''}`;

// One width for every option list in a help text, so the descriptions line up across sections.
const labelWidth = (...lists: Readonly<Record<string, OptionSpec>>[]) =>
  Math.max(...lists.flatMap((l) => Object.entries(l).map(([name, o]) => optionLabel(name, o).length)));

function optionLines(options: Readonly<Record<string, OptionSpec>>, width: number): string[] {
  return Object.entries(options).map(
    ([name, o]) => `  ${optionLabel(name, o).padEnd(width)}  ${o.description}`,
  );
}

const EXIT_CODES_HELP = `Exit codes:
  0 ok   1 failed   2 bad arguments   3 bad URL   4 connection failed
  5 outbox table missing   6 unknown id   7 not confirmed`;

function commandHelp(spec: CommandSpec): string {
  const parts = [
    `Usage: troutbox ${spec.usage} [global options]`,
    '',
    `${spec.summary[0]!.toUpperCase()}${spec.summary.slice(1)}.`,
  ];
  if (spec.details) parts.push('', spec.details);
  const width = labelWidth(spec.options, globalOptions);
  if (Object.keys(spec.options).length > 0) parts.push('', 'Options:', ...optionLines(spec.options, width));
  parts.push('', 'Global options:', ...optionLines(globalOptions, width), '', EXIT_CODES_HELP);
  return `${parts.join('\n')}\n`;
}

function commandList(specs: readonly CommandSpec[]): string[] {
  const names = specs.map((c) => c.usage.split(' [')[0]!.split(' (')[0]!);
  const width = Math.max(...names.map((n) => n.length));
  return specs.map((c, i) => `  ${names[i]!.padEnd(width)}  ${c.summary}`);
}

const generalOptions: Readonly<Record<string, OptionSpec>> = {
  ...globalOptions,
  version: { type: 'boolean', short: 'V', description: 'print the version' },
};

function generalHelp(): string {
  return `troutbox ${version}: look after a troutbox transactional outbox on PostgreSQL, MySQL or MariaDB.

Usage: troutbox <command> [options]

Commands:
${commandList(commands).join('\n')}

Global options:
${optionLines(generalOptions, labelWidth(generalOptions)).join('\n')}

${EXIT_CODES_HELP}

Run troutbox <command> --help for a command's options.
`;
}

function groupHelp(group: string): string {
  const specs = commands.filter((c) => c.path[0] === group);
  return `Usage: troutbox ${group} <command> [options]

Commands:
${commandList(specs).join('\n')}

Run troutbox ${group} <command> --help for a command's options.
`;
}

/** The command named by the leading words, the longest match (`partitions maintain` before `partitions`). */
function findCommand(words: readonly string[]): CommandSpec | undefined {
  let found: CommandSpec | undefined;
  for (const spec of commands) {
    if (spec.path.every((w, i) => words[i] === w) && spec.path.length > (found?.path.length ?? 0))
      found = spec;
  }
  return found;
}

// Errors from the driver, recognised by their codes where the message alone would be cryptic.
const MISSING_TABLE_CODES = new Set(['42P01', '3F000', 'ER_NO_SUCH_TABLE', 'ER_BAD_DB_ERROR']);
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'PROTOCOL_CONNECTION_LOST',
  '57P01',
  '57P02',
  '57P03',
]);

function driverCode(error: unknown): string | undefined {
  for (let e = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && !isOutboxError(e)) return code;
  }
  return undefined;
}

function asCliError(error: unknown, connection: OutboxConnection | undefined): CliError {
  if (error instanceof CliError) return error;
  if (isOutboxError(error, 'INVALID_OPTION') || isOutboxError(error, 'INVALID_IDENTIFIER')) {
    return new CliError('USAGE', error.message, { cause: error });
  }
  const code = driverCode(error);
  if (code && MISSING_TABLE_CODES.has(code)) {
    return tableMissing(connection?.dialect.tableName ?? 'the outbox table');
  }
  if (code && (CONNECTION_CODES.has(code) || code.startsWith('08'))) {
    return new CliError('CONNECTION_FAILED', `lost the database connection: ${describe(error)}`, {
      cause: error,
    });
  }
  return new CliError('FAILED', describe(error), { cause: error });
}

function report(error: CliError, io: CliIO, json: boolean): number {
  if (json) {
    const body = {
      code: error.code,
      exitCode: error.exitCode,
      message: error.message,
      hint: error.hint ?? null,
    };
    io.stderr.write(`${JSON.stringify({ error: body })}\n`);
  } else {
    io.stderr.write(`troutbox: ${error.message}\n`);
    if (error.hint) io.stderr.write(`hint: ${error.hint}\n`);
  }
  return error.exitCode;
}

/**
 * Run the `troutbox` command line with `argv` (without `node` and the script) and return its
 * exit code. It never calls `process.exit`, and closes every connection it opened, so it can
 * run in-process (tests, other tools).
 *
 * @example
 * ```ts
 * import { main } from 'troutbox';
 * process.exitCode = await main(['dead', 'list', '--topic', 'orders', '--json']);
 * ```
 */
export async function main(
  argv: readonly string[] = process.argv.slice(2),
  io: CliIO = processIO(),
): Promise<number> {
  let json = false;
  let connection: OutboxConnection | undefined;
  try {
    // First pass: find the command words among the arguments, whatever order they come in.
    const { tokens } = parseArgs({
      args: [...argv],
      options: { ...parserConfig(allOptions), version: { type: 'boolean', short: 'V' } },
      strict: false,
      allowPositionals: true,
      tokens: true,
    });
    json = tokens.some((t) => t.kind === 'option' && t.name === 'json');
    const positionals = tokens.filter((t) => t.kind === 'positional');
    const wantsHelp = tokens.some((t) => t.kind === 'option' && t.name === 'help');
    const words = positionals.map((t) => t.value);

    if (words[0] === 'help') {
      const spec = findCommand(words.slice(1));
      if (spec) io.stdout.write(commandHelp(spec));
      else if (words[1] && commands.some((c) => c.path[0] === words[1])) io.stdout.write(groupHelp(words[1]));
      else io.stdout.write(generalHelp());
      return 0;
    }
    const spec = findCommand(words);
    if (!spec) {
      if (words.length === 0) {
        if (tokens.some((t) => t.kind === 'option' && t.name === 'version')) {
          io.stdout.write(`${version}\n`);
          return 0;
        }
        if (wantsHelp) {
          io.stdout.write(generalHelp());
          return 0;
        }
        io.stderr.write(generalHelp());
        return exitCodes.USAGE;
      }
      const group = words[0]!;
      if (commands.some((c) => c.path[0] === group && c.path.length > 1)) {
        if (wantsHelp && words.length === 1) {
          io.stdout.write(groupHelp(group));
          return 0;
        }
        throw new CliError(
          'USAGE',
          words.length === 1
            ? `troutbox ${group} needs a command`
            : `unknown command: troutbox ${group} ${words[1]}`,
          {
            hint: `one of: ${commands
              .filter((c) => c.path[0] === group)
              .map((c) => c.path.join(' '))
              .join(', ')}`,
          },
        );
      }
      throw new CliError('USAGE', `unknown command ${JSON.stringify(group)}`, {
        hint: 'see troutbox --help',
      });
    }

    // Second pass, strict: only this command's options, with the command words taken out.
    const commandWordIndexes = new Set(positionals.slice(0, spec.path.length).map((t) => t.index));
    const rest = argv.filter((_, i) => !commandWordIndexes.has(i));
    let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
    try {
      parsed = parseArgs({
        args: rest,
        options: parserConfig({ ...globalOptions, ...spec.options }),
        strict: true,
        allowPositionals: spec.positionals !== undefined,
      }) as typeof parsed;
    } catch (cause) {
      throw new CliError('USAGE', `troutbox ${spec.path.join(' ')}: ${(cause as Error).message}`, {
        cause,
        hint: `see troutbox ${spec.path.join(' ')} --help`,
      });
    }
    if (parsed.values.help === true) {
      io.stdout.write(commandHelp(spec));
      return 0;
    }
    const limits = spec.positionals;
    if (limits) {
      const n = parsed.positionals.length;
      if (n < limits.min || (limits.max !== undefined && n > limits.max)) {
        throw new CliError(
          'USAGE',
          limits.max === 1
            ? `troutbox ${spec.path.join(' ')} takes one <${limits.name}>, got ${n}`
            : `troutbox ${spec.path.join(' ')} takes at least ${limits.min} <${limits.name}>`,
          { hint: `usage: troutbox ${spec.usage}` },
        );
      }
    }

    const values = parsed.values;
    // An empty name would otherwise mean the default one: `dead purge --all --yes --table ""`
    // must not purge outbox_messages.
    for (const name of ['url', 'schema', 'table']) {
      if (values[name] === '') {
        throw new CliError('USAGE', `--${name} is empty`, {
          hint:
            name === 'url'
              ? 'give a database URL, or leave --url out to use DATABASE_URL'
              : `give a name, or leave --${name} out for the default`,
        });
      }
    }
    const context: CommandContext = {
      io,
      json,
      async connect(options = {}) {
        if (connection) return connection;
        const target = parseDatabaseUrl(typeof values.url === 'string' ? values.url : io.env.DATABASE_URL);
        connection = await openOutbox(target, {
          schema: typeof values.schema === 'string' ? values.schema : undefined,
          table: typeof values.table === 'string' ? values.table : undefined,
          adminBatchSize: options.adminBatchSize,
          partitioned: options.partitioned,
        });
        if (options.requireTable) await connection.requireTable();
        return connection;
      },
      out: (text) => io.stdout.write(text),
      outJson: (value) => io.stdout.write(`${JSON.stringify(value, null, 2)}\n`),
      note: (text) => io.stderr.write(text),
    };
    return (await spec.run(context, { values, positionals: parsed.positionals })) ?? 0;
  } catch (error) {
    return report(asCliError(error, connection), io, json);
  } finally {
    await connection?.close().catch(() => {});
  }
}
