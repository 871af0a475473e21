import { partitionCalendar } from '@troutbox/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Fixture, mariadbDatabase, postgresDatabase } from '../test/support.js';
import { exitCodes } from './cli-error.js';

// `migrate --partitioned`, `partitions` and `partitions maintain` against a real PostgreSQL,
// each test on a schema of its own, created through the CLI.

const DAY = 86_400_000;

describe('troutbox partitions on PostgreSQL', () => {
  let f: Fixture;
  const lockId = String(1 + Math.floor(Math.random() * 2 ** 31));

  beforeEach(async () => {
    f = await postgresDatabase.create({ migrate: false });
    const r = await f.run([
      'migrate',
      '--partitioned',
      '--interval',
      'day',
      '--premake',
      '2',
      '--retention',
      '3',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Partitioned by day: 2 made ahead, 3 kept past.');
  });
  afterEach(async () => {
    await f.close();
  });

  const q = (name: string) => `${f.dialect.tableName.split('.')[0]}."${name}"`;

  it('migrate --partitioned creates the partitions; partitions lists them in text and JSON', async () => {
    const json = (await f.run(['partitions', '--json'])).json();
    expect(json).toMatchObject({
      table: f.dialect.tableName,
      partitioned: true,
      options: { interval: 'day', premake: 2, retention: 3 },
    });
    expect(json.partitions.map((p: { kind: string }) => p.kind)).toEqual([
      'range',
      'range',
      'range',
      'default',
    ]);
    expect(json.partitions[0]).toMatchObject({ pending: 0, dead: 0, droppable: false });
    expect(Date.parse(json.partitions[0].from)).not.toBeNaN();

    const text = await f.run(['partitions']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain('partitioned by day, 2 made ahead, 3 kept past');
    expect(text.stdout).toMatch(/PARTITION\s+KIND\s+FROM\s+TO\s+ROWS \(EST\.\)\s+PENDING\s+DEAD\s+DROPPABLE/);
    expect(text.stdout).toMatch(/outbox_messages_default\s+default\s+DEFAULT/);

    const status = (await f.run(['status', '--json'])).json();
    expect(status.partitions).toEqual({ partitioned: true, count: 4 });
    // Migrating again (with or without the flag) changes nothing.
    expect((await f.run(['migrate'])).stdout).toContain('is up to date');
  });

  it('partitions maintain drops a partition past retention, moving its dead letters, which can be requeued', async () => {
    const calendar = partitionCalendar('day');
    const now = await f.store.now();
    const from = calendar.floor(new Date(now.getTime() - 10 * DAY));
    const name = `outbox_messages_p${calendar.suffix(from)}`;
    await f.store.db.query(
      `CREATE TABLE ${q(name)} PARTITION OF ${f.dialect.tableName} FOR VALUES FROM ('${from.toISOString()}') TO ('${calendar.shift(from, 1).toISOString()}')`,
    );
    await f.store.db.query(
      `INSERT INTO ${f.dialect.tableName} (topic, payload, status, created_at, last_error, attempts)
VALUES ('old', convert_to('{}', 'UTF8'), 'dead', $1, 'poison', 5), ('old', convert_to('{}', 'UTF8'), 'sent', $1, NULL, 1)`,
      [new Date(from.getTime() + 1000)],
    );
    const listed = (await f.run(['partitions'])).stdout;
    expect(listed).toMatch(new RegExp(`${name}\\s+range.*\\s1\\s+yes`));

    const r = await f.run(['partitions', 'maintain', '--lock-id', lockId]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Dropped: ${name} (moved 0 pending and 1 dead into DEFAULT)`);
    expect(r.stdout).toContain('Kept past retention: none');

    const dead = (await f.run(['dead', 'list', '--json'])).json().deadLetters;
    expect(dead).toHaveLength(1);
    const requeue = await f.run(['dead', 'requeue', '--all', '--json']);
    expect(requeue.json()).toEqual({ requeued: 1 });
    expect((await f.store.stats()).pending).toBe(1);

    const again = (await f.run(['partitions', 'maintain', '--lock-id', lockId, '--json'])).json();
    expect(again).toMatchObject({ ran: true, created: [], dropped: [], kept: [] });
  });

  it('keeps a partition holding more undelivered rows than --move-limit, and says so', async () => {
    const calendar = partitionCalendar('day');
    const from = calendar.floor(new Date((await f.store.now()).getTime() - 10 * DAY));
    const name = `outbox_messages_p${calendar.suffix(from)}`;
    await f.store.db.query(
      `CREATE TABLE ${q(name)} PARTITION OF ${f.dialect.tableName} FOR VALUES FROM ('${from.toISOString()}') TO ('${calendar.shift(from, 1).toISOString()}')`,
    );
    await f.store.db.query(
      `INSERT INTO ${f.dialect.tableName} (topic, payload, created_at) VALUES ('late', convert_to('{}', 'UTF8'), $1)`,
      [new Date(from.getTime() + 1000)],
    );
    const r = await f.run(['partitions', 'maintain', '--lock-id', lockId, '--move-limit', '0']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Kept past retention: ${name} (1 pending, 0 dead: more than --move-limit)`);
    // Still there, with its pending message (a run with the default --move-limit would move it).
    expect((await f.run(['partitions'])).stdout).toMatch(new RegExp(`${name}\\s+range.*\\s1\\s+0\\s+yes`));
  });

  it('skips when another process holds the maintenance lock', async () => {
    await f.store.db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1::bigint)', [lockId]);
      const r = await f.run(['partitions', 'maintain', '--lock-id', lockId]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(`Another process holds the maintenance lock ${lockId}; nothing done.\n`);
      const json = (await f.run(['partitions', 'maintain', '--lock-id', lockId, '--json'])).json();
      expect(json).toMatchObject({ ran: false });
    });
  });
});

describe('troutbox partitions on MariaDB', () => {
  it('refuses partitioned mode, and lists a plain table', async () => {
    const f = await mariadbDatabase.create({ migrate: false });
    try {
      const r = await f.run(['migrate', '--partitioned']);
      expect(r.code).toBe(exitCodes.USAGE);
      expect(r.stderr).toContain('partitioned tables are a PostgreSQL feature');
      expect((await f.run(['migrate'])).code).toBe(0);
      expect((await f.run(['partitions', '--json'])).json()).toMatchObject({
        partitioned: false,
        partitions: [],
      });
    } finally {
      await f.close();
    }
  });
});
