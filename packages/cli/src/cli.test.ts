import { createRelay } from '@troutbox/core';
import { recordingSender } from '@troutbox/core/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  BYTES,
  type Fixture,
  mariadbDatabase,
  postgresDatabase,
  runCli,
  type Seeded,
  seed,
  TRACEPARENT,
} from '../test/support.js';
import { exitCodes } from './cli-error.js';
import { parseDatabaseUrl } from './connection.js';
import { commands } from './main.js';

describe.each([postgresDatabase, mariadbDatabase])('troutbox CLI on $name', (database) => {
  let f: Fixture;
  let ids: Seeded;

  beforeEach(async () => {
    f = await database.create();
    ids = await seed(f);
  });
  afterEach(async () => {
    await f.close();
  });

  const deadCount = async () => (await f.store.stats()).dead;

  describe('status', () => {
    it('reports every count as JSON', async () => {
      const r = await f.run(['status', '--json']);
      expect(r.code, r.stderr).toBe(0);
      const s = r.json();
      expect(s).toMatchObject({
        table: f.dialect.tableName,
        system: f.dialect.name,
        pending: 4,
        due: 3,
        scheduled: 1,
        dead: 3,
        sent: 3,
        sentLastMinute: 1,
        sentLastHour: 2,
        partitions: { partitioned: false, count: 0 },
      });
      // The oldest pending message was created 120 s before the test ran.
      expect(s.oldestPendingAgeSeconds).toBeGreaterThanOrEqual(119);
      expect(s.oldestPendingAgeSeconds).toBeLessThan(120 + 60);
      expect(Date.parse(s.oldestPendingAt)).not.toBeNaN();
      if (database.seesRowLocks) expect(s).toMatchObject({ inFlight: 0, inFlightMethod: 'pg_locks' });
      else expect(s).toMatchObject({ inFlight: null, inFlightMethod: 'unavailable' });
    });

    it('prints a readable summary', async () => {
      const r = await f.run(['status']);
      expect(r.code, r.stderr).toBe(0);
      const line = (label: string) =>
        r.stdout
          .split('\n')
          .find((l) => l.trim().startsWith(label))
          ?.trim();
      expect(r.stdout).toContain(`Outbox ${f.dialect.tableName} (${f.dialect.name})`);
      expect(line('pending')).toMatch(/^pending\s+4$/);
      expect(line('due now')).toMatch(/^due now\s+3$/);
      expect(line('scheduled')).toMatch(/^scheduled\s+1$/);
      expect(line('oldest pending')).toMatch(
        /^oldest pending\s+2m \d+s ago \(\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\)$/,
      );
      expect(line('dead')).toMatch(/^dead\s+3$/);
      expect(line('sent, last minute')).toMatch(/\s1$/);
      expect(line('sent, last hour')).toMatch(/\s2$/);
      expect(line('partitions')).toMatch(/not partitioned$/);
      expect(line('in flight')).toMatch(database.seesRowLocks ? /\s0$/ : /n\/a/);
    });

    it("counts rows locked by a relay's open claim as in flight", async () => {
      await f.store.transaction(async (tx) => {
        const claimed = await f.store.claim(tx, 2);
        expect(claimed).toHaveLength(2);
        const s = (await f.run(['status', '--json'])).json();
        expect(s.inFlight).toBe(database.seesRowLocks ? 2 : null);
        expect(s.pending).toBe(4);
      });
      const after = (await f.run(['status', '--json'])).json();
      expect(after.inFlight).toBe(database.seesRowLocks ? 0 : null);
    });
  });

  describe('dead list', () => {
    it('lists dead letters oldest first, as JSON', async () => {
      const r = await f.run(['dead', 'list', '--json']);
      expect(r.code, r.stderr).toBe(0);
      const { deadLetters, nextAfterId } = r.json();
      expect(deadLetters.map((m: { id: string }) => m.id)).toEqual([
        ids.deadJson,
        ids.deadBytes,
        ids.deadBilling,
      ]);
      expect(nextAfterId).toBeNull();
      expect(deadLetters[0]).toMatchObject({
        topic: 'orders',
        key: 'o-1',
        status: 'dead',
        attempts: 1,
        lastError: 'broker rejected: order 1 is invalid',
        payloadEncoding: 'json',
        payload: { type: 'OrderPlaced', order: 1 },
      });
      expect(deadLetters[1]).toMatchObject({
        payloadEncoding: 'base64',
        payload: Buffer.from(BYTES).toString('base64'),
      });
    });

    it('filters by topic and pages with --limit and --after', async () => {
      const billing = (await f.run(['dead', 'list', '--topic', 'billing', '--json'])).json();
      expect(billing.deadLetters.map((m: { id: string }) => m.id)).toEqual([ids.deadBilling]);

      const first = await f.run(['dead', 'list', '--limit', '2', '--json']);
      expect(first.json().deadLetters).toHaveLength(2);
      expect(first.json().nextAfterId).toBe(ids.deadBytes);
      const second = (
        await f.run(['dead', 'list', '--limit', '2', '--after', ids.deadBytes, '--json'])
      ).json();
      expect(second.deadLetters.map((m: { id: string }) => m.id)).toEqual([ids.deadBilling]);
      expect(second.nextAfterId).toBeNull();
    });

    it('prints a table', async () => {
      const r = await f.run(['dead', 'list']);
      expect(r.code, r.stderr).toBe(0);
      const lines = r.stdout.trimEnd().split('\n');
      expect(lines[0]).toMatch(/^\s*ID\s+TOPIC\s+KEY\s+ATTEMPTS\s+CREATED\s+LAST ERROR$/);
      expect(lines).toHaveLength(4);
      expect(lines[1]).toMatch(
        new RegExp(`^\\s*${ids.deadJson}\\s+orders\\s+o-1\\s+1\\s+\\S+ \\S+\\s+broker rejected`),
      );
      expect(lines[3]).toContain('permanent: no route for billing');

      const page = await f.run(['dead', 'list', '--limit', '1']);
      expect(page.stderr).toContain(`next page: --after ${ids.deadJson}`);
      const none = await f.run(['dead', 'list', '--topic', 'nothing-here']);
      expect(none.stdout).toBe('No dead letters for topic "nothing-here".\n');
    });
  });

  describe('dead show', () => {
    it('shows every field of a JSON dead letter', async () => {
      const json = (await f.run(['dead', 'show', ids.deadBilling, '--json'])).json();
      expect(json).toMatchObject({
        id: ids.deadBilling,
        topic: 'billing',
        key: 'b-1',
        status: 'dead',
        attempts: 1,
        contentType: 'application/json',
        headers: { traceparent: TRACEPARENT },
        lastError: 'permanent: no route for billing',
        sentAt: null,
        payloadEncoding: 'json',
        payload: { invoice: 7 },
        payloadBytes: 13,
      });
      expect(Date.parse(json.createdAt)).not.toBeNaN();

      const r = await f.run(['dead', 'show', ids.deadBilling]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^id\s+\d+$/m);
      expect(r.stdout).toMatch(/^status\s+dead$/m);
      expect(r.stdout).toContain(`headers\n  traceparent: ${TRACEPARENT}\n`);
      expect(r.stdout).toContain('last error\n  permanent: no route for billing\n');
      expect(r.stdout).toContain('payload (13 bytes)\n  {\n    "invoice": 7\n  }\n');
    });

    it('shows a byte payload as hex, and as base64 in JSON', async () => {
      const r = await f.run(['dead', 'show', ids.deadBytes]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('content type  application/octet-stream');
      expect(r.stdout).toContain('  00000000  00 01 02 ff 7b 22 68 69  22 7d');
      expect(r.stdout).toContain('|....{"hi"}|');
      const json = (await f.run(['dead', 'show', ids.deadBytes, '--json'])).json();
      expect(Buffer.from(json.payload, 'base64')).toEqual(Buffer.from(BYTES));
    });

    it('shows a message that is not dead, with a note', async () => {
      const r = await f.run(['dead', 'show', ids.pending[0]!, '--json']);
      expect(r.code).toBe(0);
      expect(r.json().status).toBe('pending');
      expect(r.stderr).toContain('is pending, not a dead letter');
    });
  });

  describe('dead requeue', () => {
    it('requeues by id, and the relay then delivers it', async () => {
      const r = await f.run(['dead', 'requeue', ids.deadJson, '--json']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.json()).toEqual({ requeued: 1 });
      expect(await deadCount()).toBe(2);
      const requeued = await f.store.get(ids.deadJson);
      expect(requeued).toMatchObject({ status: 'pending', attempts: 0 });

      const sender = recordingSender();
      await createRelay({ store: f.store, sender }).runOnce();
      expect(sender.sentIds).toContain(ids.deadJson);
      expect((await f.store.get(ids.deadJson))?.status).toBe('sent');
    });

    it('requeues --all of a topic, with a plain-text summary', async () => {
      const r = await f.run(['dead', 'requeue', '--all', '--topic', 'billing']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(`Requeued 1 dead letter in ${f.dialect.tableName}.\n`);
      expect((await f.store.deadLetters()).map((m) => m.id)).toEqual([ids.deadJson, ids.deadBytes]);

      const sender = recordingSender();
      await createRelay({ store: f.store, sender }).runOnce();
      expect(sender.sentIds).toContain(ids.deadBilling);
    });

    it('requeues --all in batches, printing progress lines when stderr is not a terminal', async () => {
      const r = await f.run(['dead', 'requeue', '--all', '--batch-size', '1', '--json']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.json()).toEqual({ requeued: 3 });
      expect(r.stderr).toBe('requeued 1 of 3 (33%)\nrequeued 2 of 3 (66%)\nrequeued 3 of 3 (100%)\n');
      expect(await deadCount()).toBe(0);
    });

    it('changes nothing when an id is unknown or not dead', async () => {
      const r = await f.run(['dead', 'requeue', ids.deadJson, '999999', ids.sentNow]);
      expect(r.code).toBe(exitCodes.NOT_FOUND);
      expect(r.stderr).toContain('no message with id 999999');
      expect(r.stderr).toContain(`message ${ids.sentNow} is sent, not a dead letter`);
      expect(r.stderr).toContain('nothing was changed');
      expect(await deadCount()).toBe(3);
    });
  });

  describe('dead purge', () => {
    it('refuses without --yes when stdin is not a terminal', async () => {
      const r = await f.run(['dead', 'purge', '--all']);
      expect(r.code).toBe(exitCodes.NOT_CONFIRMED);
      expect(r.stderr).toContain('refusing to purge without confirmation');
      expect(r.stderr).toContain('--yes');
      expect(await deadCount()).toBe(3);
    });

    it('asks on a terminal and keeps everything when the answer is no', async () => {
      const r = await f.run(['dead', 'purge', '--all'], { stdinTTY: true, input: 'n\n' });
      expect(r.code).toBe(exitCodes.NOT_CONFIRMED);
      expect(r.stderr).toContain(
        `Purge 3 dead letters from ${f.dialect.tableName}? This cannot be undone. [y/N]`,
      );
      expect(r.stderr).toContain('purge declined; nothing was deleted');
      expect(await deadCount()).toBe(3);

      // End of input without an answer is no, too.
      const eof = await f.run(['dead', 'purge', ids.deadJson], { stdinTTY: true, input: '' });
      expect(eof.code).toBe(exitCodes.NOT_CONFIRMED);
      expect(await deadCount()).toBe(3);
    });

    it('purges when the answer is yes', async () => {
      const r = await f.run(['dead', 'purge', '--all', '--topic', 'orders'], {
        stdinTTY: true,
        input: 'yes\n',
      });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain('Purge 1 dead letter (topic "orders") from');
      expect(r.stdout).toBe(`Purged 1 dead letter from ${f.dialect.tableName}.\n`);
      expect(await f.store.get(ids.deadJson)).toBeNull();
      expect(await deadCount()).toBe(2);
    });

    it('purges by id with --yes, without asking', async () => {
      const r = await f.run(['dead', 'purge', ids.deadBytes, ids.deadBilling, '--yes', '--json']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.json()).toEqual({ purged: 2 });
      expect(r.stderr).toBe('');
      expect((await f.store.deadLetters()).map((m) => m.id)).toEqual([ids.deadJson]);
    });

    it('purges only dead letters older than --older-than', async () => {
      await f.backdate(ids.deadBytes, 'created_at', 10 * 86_400);
      const r = await f.run(['dead', 'purge', '--all', '--older-than', '7d', '-y', '--json']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.json()).toEqual({ purged: 1 });
      expect(await f.store.get(ids.deadBytes)).toBeNull();
      expect(await deadCount()).toBe(2);

      const again = await f.run(['dead', 'purge', '--all', '--older-than', '7d', '--yes']);
      expect(again.code).toBe(0);
      expect(again.stdout).toMatch(/^No dead letters \(created before .*\) in .*; nothing purged\.\n$/);
    });

    it('draws a progress bar on a terminal for a long purge', async () => {
      const r = await f.run(['dead', 'purge', '--all', '--yes', '--batch-size', '1'], { stderrTTY: true });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain('\r[');
      expect(r.stderr).toMatch(/\r\[#+\] 100% 3\/3 purged/);
      expect(r.stderr.endsWith('\n')).toBe(true);
      expect(await deadCount()).toBe(0);
    });

    it('never touches sent or pending messages, and refuses unknown ids', async () => {
      const r = await f.run(['dead', 'purge', ids.pending[0]!, '--yes']);
      expect(r.code).toBe(exitCodes.NOT_FOUND);
      expect(r.stderr).toContain('is pending, not a dead letter');
      const unknown = await f.run(['dead', 'purge', '999999', '--yes']);
      expect(unknown.code).toBe(exitCodes.NOT_FOUND);
      expect((await f.store.stats()).pending).toBe(4);
      expect(await deadCount()).toBe(3);
    });
  });

  describe('migrate and partitions', () => {
    it('migrates a new table, then reports it up to date', async () => {
      const fresh = await database.create({ migrate: false });
      try {
        const missing = await fresh.run(['status']);
        expect(missing.code).toBe(exitCodes.TABLE_MISSING);
        const first = await fresh.run(['migrate', '--json']);
        expect(first.code, first.stderr).toBe(0);
        expect(first.json()).toEqual({ table: fresh.dialect.tableName, applied: [1, 2], version: 2 });
        const again = await fresh.run(['migrate']);
        expect(again.stdout).toBe(`${fresh.dialect.tableName} is up to date (version 2).\n`);
        const status = await fresh.run(['status', '--json']);
        expect(status.json()).toMatchObject({ pending: 0, dead: 0 });
      } finally {
        await fresh.close();
      }
    });

    it('never turns an existing plain table into a partitioned one', async () => {
      const r = await f.run(['migrate', '--partitioned']);
      if (database.name === 'postgres') {
        expect(r.code).toBe(exitCodes.FAILED);
        expect(r.stderr).toContain('exists as a plain table');
      } else {
        expect(r.code).toBe(exitCodes.USAGE);
        expect(r.stderr).toContain('partitioned tables are a PostgreSQL feature');
      }
      expect((await f.run(['partitions', '--json'])).json()).toMatchObject({ partitioned: false });
    });

    it('reports a plain table as not partitioned', async () => {
      const r = await f.run(['partitions']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(`${f.dialect.tableName} is not partitioned (a plain table).\n`);
      const json = (await f.run(['partitions', '--json'])).json();
      expect(json).toEqual({
        table: f.dialect.tableName,
        partitioned: false,
        options: null,
        retentionCutoff: null,
        partitions: [],
      });
      const maintain = await f.run(['partitions', 'maintain', '--lock-id', '7']);
      expect(maintain.code).toBe(exitCodes.USAGE);
      expect(maintain.stderr).toContain(
        database.name === 'postgres' ? 'is a plain table' : 'partition maintenance is a PostgreSQL feature',
      );
    });
  });

  describe('errors', () => {
    it('reports a connection failure', async () => {
      const r = await runCli(['status', '--url', database.unreachableUrl]);
      expect(r.code).toBe(exitCodes.CONNECTION_FAILED);
      expect(r.stderr).toContain(`could not connect to ${database.unreachableUrl}`);
    });

    it('reports a missing table and how to create it, in text and JSON', async () => {
      const r = await f.run(['dead', 'list', '--table', 'no_such_outbox']);
      expect(r.code).toBe(exitCodes.TABLE_MISSING);
      expect(r.stderr).toMatch(/the outbox table .*no_such_outbox.* does not exist/);
      expect(r.stderr).toContain('troutbox migrate');
      const json = await f.run(['status', '--table', 'no_such_outbox', '--json']);
      expect(json.code).toBe(exitCodes.TABLE_MISSING);
      expect(json.stdout).toBe('');
      expect(JSON.parse(json.stderr).error).toMatchObject({ code: 'TABLE_MISSING', exitCode: 5 });
    });

    it('reports an unknown id', async () => {
      const r = await f.run(['dead', 'show', '999999']);
      expect(r.code).toBe(exitCodes.NOT_FOUND);
      expect(r.stderr).toContain('no message with id 999999');
    });

    it('rejects a bad schema or table name before connecting', async () => {
      const r = await f.run(['status', '--table', 'bad name; drop table x']);
      expect(r.code).toBe(exitCodes.USAGE);
      expect(r.stderr).toContain('plain SQL identifier');
    });

    it('an empty --table, --schema or --url is a usage error, never the default: dead purge --all --yes purges nothing', async () => {
      const purge = ['dead', 'purge', '--all', '--yes'];
      const emptyTable = await f.run([...purge, '--table', '']);
      expect(emptyTable.code).toBe(exitCodes.USAGE);
      expect(emptyTable.stderr).toContain('--table is empty');
      const inline = await f.run([...purge, '--table=']);
      expect(inline.code).toBe(exitCodes.USAGE);
      const emptySchema = await runCli([...purge, '--url', database.url, '--schema', '']);
      expect(emptySchema.code).toBe(exitCodes.USAGE);
      expect(emptySchema.stderr).toContain('--schema is empty');
      const emptyUrl = await runCli([...purge, '--url', '', '--schema', f.target[3]!], {
        env: { DATABASE_URL: database.url },
      });
      expect(emptyUrl.code).toBe(exitCodes.USAGE);
      expect(emptyUrl.stderr).toContain('--url is empty');
      expect(await deadCount()).toBe(3);
    });

    it('accepts the protocol under its other name', async () => {
      expect(database.aliasUrl).not.toBe(database.url);
      const r = await runCli(['status', '--json', '--url', database.aliasUrl, '--schema', f.target[3]!]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.json().pending).toBe(4);
    });

    it('takes the URL from DATABASE_URL', async () => {
      const schema = f.target[3]!;
      const r = await runCli(['status', '--json', '--schema', schema], {
        env: { DATABASE_URL: database.url },
      });
      expect(r.code, r.stderr).toBe(0);
      expect(r.json().dead).toBe(3);
    });
  });
});

describe('troutbox CLI without a database', () => {
  it.each([
    [['status', '--url', 'not a url'], exitCodes.BAD_URL, 'not a valid URL'],
    [
      ['status', '--url', 'redis://127.0.0.1:6379'],
      exitCodes.BAD_URL,
      'unsupported database URL protocol "redis:"',
    ],
    [['status'], exitCodes.BAD_URL, 'no database URL'],
    [['status', '--url', 'mysql://root@127.0.0.1:3306'], exitCodes.BAD_URL, 'names no database'],
    [['dead', 'list', '--limit', 'abc'], exitCodes.USAGE, '--limit must be a positive integer, got "abc"'],
    [['dead', 'list', '--limit', '0'], exitCodes.USAGE, '--limit must be a positive integer'],
    [['dead', 'list', '--colour'], exitCodes.USAGE, "Unknown option '--colour'"],
    [['dead', 'list', 'extra'], exitCodes.USAGE, 'Unexpected argument'],
    [['frobnicate'], exitCodes.USAGE, 'unknown command "frobnicate"'],
    [['dead'], exitCodes.USAGE, 'troutbox dead needs a command'],
    [['dead', 'bury'], exitCodes.USAGE, 'unknown command: troutbox dead bury'],
    [['dead', 'show'], exitCodes.USAGE, 'takes one <id>, got 0'],
    [['dead', 'show', '1', '2'], exitCodes.USAGE, 'takes one <id>, got 2'],
    [['dead', 'show', 'abc'], exitCodes.USAGE, 'not a message id: "abc"'],
    [['dead', 'requeue'], exitCodes.USAGE, 'give the ids of the dead letters, or --all'],
    [['dead', 'purge', '1', '--all', '--yes'], exitCodes.USAGE, 'give message ids or --all, not both'],
    [['dead', 'purge', '1', '--older-than', '7d', '--yes'], exitCodes.USAGE, '--older-than go with --all'],
    [
      ['dead', 'purge', '--all', '--older-than', '7x', '--yes'],
      exitCodes.USAGE,
      '--older-than must be a number and a unit',
    ],
    [['migrate', '--interval', 'day'], exitCodes.USAGE, '--interval go with --partitioned'],
    [
      ['migrate', '--partitioned', '--interval', 'fortnight'],
      exitCodes.USAGE,
      '--interval must be hour, day',
    ],
    [['migrate', '--partitioned', '--retention', 'x'], exitCodes.USAGE, '--retention must be a whole number'],
    [['partitions', 'maintain'], exitCodes.USAGE, 'partitions maintain needs --lock-id'],
    [['partitions', 'maintain', '--lock-id', 'x'], exitCodes.USAGE, '--lock-id must be a 64-bit integer'],
  ])('%j exits with %i', async (args, code, message) => {
    const r = await runCli(args);
    expect(r.code).toBe(code);
    expect(r.stderr).toContain(message);
    expect(r.stdout).toBe('');
  });

  it.each([
    ['postgres://u:p@db.example/app', 'postgres', 'app'],
    ['postgresql://u@db.example:5433/app%2Dx', 'postgres', 'app-x'],
    ['mysql://root@127.0.0.1:3306/shop', 'mysql', 'shop'],
    ['mariadb://root:pw@127.0.0.1/shop', 'mysql', 'shop'],
    ['postgres://u@db.example', 'postgres', null],
  ])('reads %s', (url, system, databaseName) => {
    const target = parseDatabaseUrl(url);
    expect(target).toMatchObject({ system, database: databaseName, url });
    expect(target.display).not.toMatch(/:p@|:pw@/);
  });

  it('never prints the password of a URL', async () => {
    const r = await runCli(['status', '--url', 'postgres://app:s3cret@127.0.0.1:1/test']);
    expect(r.code).toBe(exitCodes.CONNECTION_FAILED);
    expect(r.stderr).not.toContain('s3cret');
    expect(r.stderr).toContain('postgres://app:***@127.0.0.1:1/test');
  });

  it.each(commands.map((c) => [c.path.join(' ')]))('troutbox %s --help', async (path) => {
    const r = await runCli([...path.split(' '), '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^Usage: troutbox ${path}\\b`));
    expect(r.stdout).toContain('--url <url>');
    expect(r.stdout).toContain('Exit codes:');
    const viaHelp = await runCli(['help', ...path.split(' ')]);
    expect(viaHelp.stdout).toBe(r.stdout);
  });

  it('prints the command list with --help, and for a group', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    for (const c of commands) expect(r.stdout).toContain(c.summary);
    const dead = await runCli(['dead', '--help']);
    expect(dead.code).toBe(0);
    expect(dead.stdout).toContain('Usage: troutbox dead <command>');
    expect(dead.stdout).toContain('dead purge');
    const bare = await runCli([]);
    expect(bare.code).toBe(exitCodes.USAGE);
    expect(bare.stderr).toContain('Usage: troutbox <command>');
  });

  it('prints its version', async () => {
    const r = await runCli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });
});
