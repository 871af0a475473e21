import type { StoredMessage } from '@troutbox/core';
import { CliError } from '../cli-error.js';
import {
  batchSizeOption,
  type CommandContext,
  type CommandSpec,
  flag,
  messageIds,
  type ParsedArgs,
  parseDuration,
  positiveInt,
  stringValue,
} from '../command.js';
import { isYes, readLine } from '../confirm.js';
import type { OutboxConnection } from '../connection.js';
import { count, fields, indent, messageJson, payloadForPeople, table, time } from '../format.js';
import { createProgress } from '../progress.js';

const DEFAULT_ADMIN_BATCH = 5000;

const plural = (n: number, one: string, many = `${one}s`) => `${count(n)} ${n === 1 ? one : many}`;

/** `troutbox dead list` */
export const deadListCommand: CommandSpec = {
  path: ['dead', 'list'],
  summary: 'list dead letters, oldest first',
  usage: 'dead list [--topic <topic>] [--limit <n>] [--after <id>]',
  options: {
    topic: { type: 'string', placeholder: 'topic', description: 'only this topic' },
    limit: { type: 'string', placeholder: 'n', description: 'at most n messages (default: 50)' },
    after: { type: 'string', placeholder: 'id', description: 'start after this id (the next page)' },
  },
  async run(ctx, args) {
    const limit = positiveInt(args, 'limit', 50);
    const topic = stringValue(args, 'topic');
    const after = stringValue(args, 'after');
    const afterId = after === undefined ? undefined : messageIds([after])[0];
    const c = await ctx.connect({ requireTable: true });
    const rows = await c.store.deadLetters({
      limit,
      ...(topic !== undefined ? { topic } : {}),
      ...(afterId !== undefined ? { afterId } : {}),
    });
    // A full page means there may be more: say where the next one starts.
    const next = rows.length === limit ? rows.at(-1)!.id : null;
    if (ctx.json) {
      ctx.outJson({ deadLetters: rows.map(messageJson), nextAfterId: next });
      return 0;
    }
    if (rows.length === 0) {
      ctx.out(`No dead letters${topic === undefined ? '' : ` for topic ${JSON.stringify(topic)}`}.\n`);
      return 0;
    }
    ctx.out(
      table(rows, [
        { header: 'ID', value: (m) => m.id, align: 'right' },
        { header: 'TOPIC', value: (m) => m.topic, maxWidth: 30 },
        { header: 'KEY', value: (m) => m.key ?? '-', maxWidth: 24 },
        { header: 'ATTEMPTS', value: (m) => String(m.attempts), align: 'right' },
        { header: 'CREATED', value: (m) => time(m.createdAt) },
        { header: 'LAST ERROR', value: (m) => m.lastError ?? '-', maxWidth: 60 },
      ]),
    );
    if (next !== null)
      ctx.note(`Showing ${plural(rows.length, 'dead letter')}; next page: --after ${next}\n`);
    return 0;
  },
};

/** `troutbox dead show <id>` */
export const deadShowCommand: CommandSpec = {
  path: ['dead', 'show'],
  summary: 'show every field of one message: headers, last error, payload',
  usage: 'dead show <id>',
  details: `JSON payloads are printed as JSON; byte payloads as a hex dump (with --json: base64).`,
  options: {},
  positionals: { name: 'id', min: 1, max: 1 },
  async run(ctx, args) {
    const [id] = messageIds(args.positionals);
    const c = await ctx.connect({ requireTable: true });
    const m = await c.store.get(id!);
    if (!m) throw new CliError('NOT_FOUND', `no message with id ${id} in ${c.dialect.tableName}`);
    if (m.status !== 'dead') ctx.note(`note: message ${m.id} is ${m.status}, not a dead letter\n`);
    if (ctx.json) {
      ctx.outJson(messageJson(m));
      return 0;
    }
    ctx.out(
      fields([
        ['id', m.id],
        ['topic', m.topic],
        ['key', m.key ?? '-'],
        ['status', m.status],
        ['attempts', String(m.attempts)],
        ['content type', m.contentType],
        ['created', time(m.createdAt)],
        ['available', time(m.availableAt)],
        ['sent', time(m.sentAt)],
      ]),
    );
    const headers = Object.entries(m.headers);
    ctx.out(
      headers.length === 0
        ? 'headers       (none)\n'
        : `headers\n${headers.map(([k, v]) => `  ${k}: ${v}`).join('\n')}\n`,
    );
    ctx.out(`last error\n${indent(m.lastError ?? '(none)')}\n`);
    ctx.out(`payload (${plural(m.payload.byteLength, 'byte')})\n${indent(payloadForPeople(m))}\n`);
    return 0;
  },
};

/** Ids must name dead letters; every problem is reported at once and nothing is changed. */
async function checkDeadIds(c: OutboxConnection, ids: readonly string[]): Promise<void> {
  const problems: string[] = [];
  for (const id of ids) {
    const m: StoredMessage | null = await c.store.get(id);
    if (!m) problems.push(`no message with id ${id}`);
    else if (m.status !== 'dead') problems.push(`message ${id} is ${m.status}, not a dead letter`);
  }
  if (problems.length > 0) {
    throw new CliError(
      'NOT_FOUND',
      `${problems.join('; ')} (in ${c.dialect.tableName}); nothing was changed`,
    );
  }
}

/** `<id…>` or `--all`, never both; the filters go with `--all` only. */
function selection(args: ParsedArgs, filters: readonly string[]): { ids: string[] } | { all: true } {
  const all = flag(args, 'all');
  if (all && args.positionals.length > 0) throw new CliError('USAGE', 'give message ids or --all, not both');
  if (!all && args.positionals.length === 0) {
    throw new CliError('USAGE', 'give the ids of the dead letters, or --all');
  }
  if (!all) {
    const misplaced = filters.filter((f) => args.values[f] !== undefined);
    if (misplaced.length > 0) {
      throw new CliError(
        'USAGE',
        `${misplaced.map((f) => `--${f}`).join(' and ')} go with --all, not with ids`,
      );
    }
    return { ids: messageIds(args.positionals) };
  }
  return { all: true };
}

function describeFilter(topic: string | undefined, createdBefore: Date | undefined): string {
  const parts = [];
  if (topic !== undefined) parts.push(`topic ${JSON.stringify(topic)}`);
  if (createdBefore !== undefined) parts.push(`created before ${time(createdBefore)}`);
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}

/** `troutbox dead requeue` */
export const deadRequeueCommand: CommandSpec = {
  path: ['dead', 'requeue'],
  summary: 'move dead letters back to pending, attempts reset, due now',
  usage: 'dead requeue (<id>... | --all [--topic <topic>])',
  details: 'Relays pick requeued messages up on their next claim.',
  options: {
    all: { type: 'boolean', description: 'every dead letter (narrow with --topic)' },
    topic: { type: 'string', placeholder: 'topic', description: 'with --all: only this topic' },
    'batch-size': batchSizeOption,
  },
  positionals: { name: 'id', min: 0 },
  async run(ctx, args) {
    const selected = selection(args, ['topic']);
    const batchSize = positiveInt(args, 'batch-size', DEFAULT_ADMIN_BATCH);
    const c = await ctx.connect({ requireTable: true, adminBatchSize: batchSize });
    let requeued: number;
    if ('ids' in selected) {
      await checkDeadIds(c, selected.ids);
      requeued = await c.store.requeueDead({ ids: selected.ids });
    } else {
      const topic = stringValue(args, 'topic');
      // Counted first, then bounded by the largest id counted: dead letters that arrive while
      // the requeue runs are left for the next one, and the progress bar ends at 100%.
      const { count: total, maxId } = await c.store.count('dead', topic !== undefined ? { topic } : {});
      const progress = createProgress({ out: ctx.io.stderr, verb: 'requeued', total, batchSize });
      try {
        requeued =
          maxId === null
            ? 0
            : await c.store.requeueDead(
                { all: true, maxId, ...(topic !== undefined ? { topic } : {}) },
                (done) => progress.update(done),
              );
      } finally {
        progress.finish();
      }
    }
    if (ctx.json) ctx.outJson({ requeued });
    else ctx.out(`Requeued ${plural(requeued, 'dead letter')} in ${c.dialect.tableName}.\n`);
    return 0;
  },
};

async function confirm(ctx: CommandContext, question: string): Promise<void> {
  ctx.io.stderr.write(`${question} This cannot be undone. [y/N] `);
  const answer = await readLine(ctx.io.stdin);
  if (answer === null) ctx.io.stderr.write('\n');
  if (!isYes(answer)) throw new CliError('NOT_CONFIRMED', 'purge declined; nothing was deleted');
}

/** `troutbox dead purge` */
export const deadPurgeCommand: CommandSpec = {
  path: ['dead', 'purge'],
  summary: 'delete dead letters for good (asks first; --yes skips the question)',
  usage: 'dead purge (<id>... | --all [--topic <topic>] [--older-than <age>]) [--yes]',
  details: `Asks for confirmation on a terminal. Without a terminal (a script, a pipe), it refuses
unless --yes is given. Ages are a number and a unit: 30s, 15m, 12h, 7d, 2w; "older than"
means created that long ago by the database's clock.`,
  options: {
    all: { type: 'boolean', description: 'every dead letter (narrow with --topic, --older-than)' },
    topic: { type: 'string', placeholder: 'topic', description: 'with --all: only this topic' },
    'older-than': {
      type: 'string',
      placeholder: 'age',
      description: 'with --all: only those created longer ago than this (7d, 12h…)',
    },
    yes: { type: 'boolean', short: 'y', description: 'do not ask for confirmation' },
    'batch-size': batchSizeOption,
  },
  positionals: { name: 'id', min: 0 },
  async run(ctx, args) {
    const selected = selection(args, ['topic', 'older-than']);
    const olderThan = stringValue(args, 'older-than');
    const olderThanMs = olderThan === undefined ? undefined : parseDuration(olderThan, 'older-than');
    const batchSize = positiveInt(args, 'batch-size', DEFAULT_ADMIN_BATCH);
    const yes = flag(args, 'yes');
    // Decided before touching the database, so a script without --yes fails the same way
    // whatever the table holds.
    if (!yes && !ctx.io.stdin.isTTY) {
      throw new CliError('NOT_CONFIRMED', 'refusing to purge without confirmation: stdin is not a terminal', {
        hint: 'pass --yes to purge without being asked',
      });
    }
    const c = await ctx.connect({ requireTable: true, adminBatchSize: batchSize });
    let purged: number;
    if ('ids' in selected) {
      await checkDeadIds(c, selected.ids);
      if (!yes) {
        await confirm(
          ctx,
          `Purge ${plural(selected.ids.length, 'dead letter')} (${selected.ids.join(', ')}) from ${c.dialect.tableName}?`,
        );
      }
      purged = await c.store.purge('dead', { ids: selected.ids });
    } else {
      const topic = stringValue(args, 'topic');
      const createdBefore =
        olderThanMs === undefined ? undefined : new Date((await c.store.now()).getTime() - olderThanMs);
      // What the question names is what gets purged: bounded by the largest id counted, so dead
      // letters that arrive after the confirmation are not deleted unseen.
      const { count: total, maxId } = await c.store.count('dead', {
        ...(topic !== undefined ? { topic } : {}),
        ...(createdBefore !== undefined ? { createdBefore } : {}),
      });
      const filter = describeFilter(topic, createdBefore);
      if (total === 0 || maxId === null) {
        if (ctx.json) ctx.outJson({ purged: 0 });
        else ctx.out(`No dead letters${filter} in ${c.dialect.tableName}; nothing purged.\n`);
        return 0;
      }
      if (!yes)
        await confirm(ctx, `Purge ${plural(total, 'dead letter')}${filter} from ${c.dialect.tableName}?`);
      const progress = createProgress({ out: ctx.io.stderr, verb: 'purged', total, batchSize });
      try {
        purged = await c.store.purge(
          'dead',
          {
            all: true,
            maxId,
            ...(topic !== undefined ? { topic } : {}),
            ...(createdBefore !== undefined ? { createdBefore } : {}),
          },
          (done) => progress.update(done),
        );
      } finally {
        progress.finish();
      }
    }
    if (ctx.json) ctx.outJson({ purged });
    else ctx.out(`Purged ${plural(purged, 'dead letter')} from ${c.dialect.tableName}.\n`);
    return 0;
  },
};

/** Every `dead …` command. */
export const deadCommands: readonly CommandSpec[] = [
  deadListCommand,
  deadShowCommand,
  deadRequeueCommand,
  deadPurgeCommand,
];
