import type { PartitionOptions } from '@troutbox/core';
import { CliError } from './cli-error.js';
import type { OutboxConnection } from './connection.js';
import type { CliIO } from './io.js';

/** One option of a command, for the parser and for `--help`. */
export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  /** Shown in help as `--limit <n>`. */
  readonly placeholder?: string;
  readonly description: string;
}

/** Parsed arguments of one command. */
export interface ParsedArgs {
  readonly values: Readonly<Record<string, string | boolean | undefined>>;
  readonly positionals: readonly string[];
}

/** What a command gets to do its work. */
export interface CommandContext {
  readonly io: CliIO;
  /** `--json` was given: print one JSON document on stdout. */
  readonly json: boolean;
  /**
   * Open the outbox table named by the global options; closed by `main` when the command ends.
   * `requireTable` fails with `TABLE_MISSING` when the table does not exist.
   */
  connect(options?: {
    requireTable?: boolean;
    adminBatchSize?: number;
    /** Create the dialect in partitioned mode (`migrate --partitioned`). */
    partitioned?: PartitionOptions;
  }): Promise<OutboxConnection>;
  /** Write to stdout. */
  out(text: string): void;
  /** Write JSON (pretty, with a newline) to stdout. */
  outJson(value: unknown): void;
  /** Write a message for the user to stderr, where it never mixes with `--json` output. */
  note(text: string): void;
}

/** A command: `status`, `dead purge`… */
export interface CommandSpec {
  /** Words that name it: `['dead', 'purge']`. */
  readonly path: readonly string[];
  /** One line for the command list. */
  readonly summary: string;
  /** Usage after `troutbox `, with the path: `dead show <id>`. */
  readonly usage: string;
  /** Paragraphs shown by `--help` after the usage line. */
  readonly details?: string;
  readonly options: Readonly<Record<string, OptionSpec>>;
  /** Positional arguments allowed (message ids): at least `min`. Absent: none. */
  readonly positionals?: { readonly name: string; readonly min: number; readonly max?: number };
  /** Returns the exit code (0 when nothing is returned). Failures throw {@link CliError}. */
  run(context: CommandContext, args: ParsedArgs): Promise<number | undefined>;
}

/** The options every command takes. */
export const globalOptions: Readonly<Record<string, OptionSpec>> = {
  url: {
    type: 'string',
    placeholder: 'url',
    description: 'database URL, postgres://… or mysql://… (default: $DATABASE_URL)',
  },
  schema: {
    type: 'string',
    placeholder: 'name',
    description: "PostgreSQL schema (default: public), or MySQL database (default: the URL's)",
  },
  table: { type: 'string', placeholder: 'name', description: 'outbox table (default: outbox_messages)' },
  json: { type: 'boolean', description: 'print JSON instead of text' },
  help: { type: 'boolean', short: 'h', description: 'show help for the command' },
};

/** Shared by `dead requeue` and `dead purge`. */
export const batchSizeOption: OptionSpec = {
  type: 'string',
  placeholder: 'n',
  description: 'rows changed per statement (default: 5000)',
};

// --- argument values -----------------------------------------------------------------------

export function stringValue(args: ParsedArgs, name: string): string | undefined {
  const v = args.values[name];
  return typeof v === 'string' ? v : undefined;
}

export function flag(args: ParsedArgs, name: string): boolean {
  return args.values[name] === true;
}

/** A positive integer option, or `fallback` when absent. @throws CliError `USAGE` */
export function positiveInt(args: ParsedArgs, name: string, fallback: number): number {
  const text = stringValue(args, name);
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text) || Number(text) < 1 || !Number.isSafeInteger(Number(text))) {
    throw new CliError('USAGE', `--${name} must be a positive integer, got ${JSON.stringify(text)}`);
  }
  return Number(text);
}

const UNIT_MS: Record<string, number> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** `30s`, `15m`, `12h`, `7d`, `2w` in milliseconds. @throws CliError `USAGE` */
export function parseDuration(text: string, name: string): number {
  const match = /^(\d+)\s*([smhdw])$/.exec(text.trim());
  if (!match) {
    throw new CliError(
      'USAGE',
      `--${name} must be a number and a unit (s, m, h, d or w), like 7d or 12h; got ${JSON.stringify(text)}`,
    );
  }
  return Number(match[1]) * UNIT_MS[match[2]!]!;
}

/** Message ids are 64-bit integers written in decimal. @throws CliError `USAGE` */
export function messageIds(values: readonly string[]): string[] {
  const bad = values.filter((v) => !/^\d{1,19}$/.test(v) || BigInt(v) > 9_223_372_036_854_775_807n);
  if (bad.length > 0) {
    throw new CliError('USAGE', `not a message id: ${bad.map((b) => JSON.stringify(b)).join(', ')}`, {
      hint: 'message ids are positive integers, as `troutbox dead list` shows them',
    });
  }
  return [...new Set(values)];
}
