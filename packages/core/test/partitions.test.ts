import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createRelay,
  type Executor,
  isOutboxError,
  type PartitionMaintenanceReport,
  partitionCalendar,
  pgPool,
  postgres,
  resolvePartitionOptions,
  SqlMessageStore,
  startPartitionMaintenance,
} from '../src/index.js';
import { recordingSender, uniqueName, waitFor } from '../src/testing/index.js';

// Partitioned mode on a real PostgreSQL: each test has its own schema, dropped afterwards.

const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const DAY = 86_400_000;

interface Fixture {
  schema: string;
  pool: pg.Pool;
  store: SqlMessageStore;
  table: string;
  /** Quoted, qualified name of a table in the test's schema. */
  q(name: string): string;
  sql<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  /** Insert one row with explicit status and created_at; returns its id. */
  insert(row: { createdAt: Date; status?: 'pending' | 'sent' | 'dead'; topic?: string }): Promise<string>;
  /** Create the daily partition of `day` by hand, as maintenance would name it. */
  dayPartition(day: Date): Promise<string>;
  /** The table (partition) that holds message `id`. */
  partitionOf(id: string): Promise<string>;
  exists(name: string): Promise<boolean>;
  /** A fresh lock id for this test, so parallel suites never share one. */
  lockId: number;
}

let f: Fixture;

async function fixture(options: { premake?: number; retention?: number } = {}): Promise<Fixture> {
  const schema = uniqueName('part');
  const pool = new pg.Pool({ connectionString: url, max: 6 });
  pool.on('error', () => {});
  const dialect = postgres({
    schema,
    partitioned: { interval: 'day', premake: options.premake ?? 2, retention: options.retention ?? 2 },
  });
  const store = new SqlMessageStore({ dialect, db: pgPool(pool) });
  await store.migrate();
  const q = (name: string) => `"${schema}"."${name}"`;
  const sql = async <T>(text: string, params?: unknown[]) => (await pool.query(text, params)).rows as T[];
  const t = dialect.tableName;
  const calendar = partitionCalendar('day');
  return {
    schema,
    pool,
    store,
    table: t,
    q,
    sql,
    async insert({ createdAt, status = 'pending', topic = 'test' }) {
      const [row] = await sql<{ id: string }>(
        `INSERT INTO ${t} (topic, payload, status, created_at, available_at, sent_at, attempts, last_error)
VALUES ($1, convert_to('{}', 'UTF8'), $2, $3, $3, CASE WHEN $2 = 'sent' THEN $3::timestamptz END,
  CASE WHEN $2 = 'dead' THEN 5 ELSE 0 END, CASE WHEN $2 = 'dead' THEN 'poison' END)
RETURNING id::text AS id`,
        [topic, status, createdAt],
      );
      return row!.id;
    },
    async dayPartition(day) {
      const from = calendar.floor(day);
      const name = `outbox_messages_p${calendar.suffix(from)}`;
      await sql(
        `CREATE TABLE ${q(name)} PARTITION OF ${t} FOR VALUES FROM ('${from.toISOString()}') TO ('${calendar.shift(from, 1).toISOString()}')`,
      );
      return name;
    },
    async partitionOf(id) {
      const [row] = await sql<{ part: string }>(
        `SELECT tableoid::regclass::text AS part FROM ${t} WHERE id = $1`,
        [id],
      );
      return row!.part.replace(`${schema}.`, '').replaceAll('"', '');
    },
    async exists(name) {
      const [row] = await sql<{ found: boolean }>('SELECT to_regclass($1) IS NOT NULL AS found', [q(name)]);
      return row!.found;
    },
    lockId: 1 + Math.floor(Math.random() * 2 ** 31),
  };
}

async function advisoryLocksHeld(lockId: number): Promise<number> {
  const [row] = await f.sql<{ n: string }>(
    `SELECT count(*) AS n FROM pg_locks
WHERE locktype = 'advisory' AND classid = 0 AND objid = $1::bigint::oid AND objsubid = 1`,
    [lockId],
  );
  return Number(row!.n);
}

beforeEach(async () => {
  f = await fixture();
});
afterEach(async () => {
  await f.pool.query(`DROP SCHEMA IF EXISTS "${f.schema}" CASCADE`);
  await f.pool.end();
});

describe('partitioned table', () => {
  it('migrate creates the parent, DEFAULT and the current partition with premake ahead', async () => {
    const now = await f.store.now();
    const calendar = partitionCalendar('day');
    const listing = await f.store.partitions();
    expect(listing.partitioned).toBe(true);
    expect(listing.options).toEqual({ interval: 'day', premake: 2, retention: 2 });
    const ranges = listing.partitions.filter((p) => p.kind === 'range').map((p) => p.name);
    expect(ranges).toEqual(
      [0, 1, 2].map((i) => `outbox_messages_p${calendar.suffix(calendar.shift(calendar.floor(now), i))}`),
    );
    expect(listing.partitions.at(-1)).toMatchObject({ name: 'outbox_messages_default', kind: 'default' });
    expect(await f.store.tableStatus()).toEqual({ exists: true, partitioned: true, version: 2, latest: 2 });
    // Migrating again changes nothing.
    expect((await f.store.migrate()).applied).toEqual([]);
  });

  it('pending and dead messages of a partition past retention survive maintenance, and are delivered and requeued', async () => {
    const old = new Date((await f.store.now()).getTime() - 10 * DAY);
    const name = await f.dayPartition(old);
    const at = new Date(partitionCalendar('day').floor(old).getTime() + 3600_000);
    const sentIds = [
      await f.insert({ createdAt: at, status: 'sent' }),
      await f.insert({ createdAt: at, status: 'sent' }),
    ];
    const pendingId = await f.insert({ createdAt: at, status: 'pending', topic: 'late' });
    const deadId = await f.insert({ createdAt: at, status: 'dead', topic: 'poison' });
    const before = await f.store.get(pendingId);

    const listed = (await f.store.partitions()).partitions.find((p) => p.name === name);
    expect(listed).toMatchObject({
      kind: 'range',
      pending: 1,
      dead: 1,
      pastRetention: true,
      droppable: true,
    });

    const report = await f.store.maintainPartitions({ lockId: f.lockId });
    expect(report).toMatchObject({
      ran: true,
      dropped: [name],
      moved: [{ name, pending: 1, dead: 1 }],
      kept: [],
    });
    expect(await f.exists(name)).toBe(false);

    // Same ids, same timestamps, now in DEFAULT; the sent rows went with the partition.
    const pending = await f.store.get(pendingId);
    expect(pending).toEqual(before);
    expect(await f.partitionOf(pendingId)).toBe('outbox_messages_default');
    expect(await f.store.get(deadId)).toMatchObject({ status: 'dead', lastError: 'poison' });
    for (const id of sentIds) expect(await f.store.get(id)).toBeNull();

    const sender = recordingSender();
    const relay = createRelay({ store: f.store, sender, pollIntervalMs: 20 });
    await relay.runOnce();
    expect(sender.sentIds).toEqual([pendingId]);
    expect(await f.store.requeueDead({ ids: [deadId] })).toBe(1);
    await relay.runOnce();
    expect(sender.sentIds).toEqual([pendingId, deadId]);
    expect(await f.store.get(deadId)).toMatchObject({ status: 'sent', attempts: 0 });
  });

  it('keeps and reports a partition past retention holding more undelivered rows than moveLimit', async () => {
    const old = new Date((await f.store.now()).getTime() - 10 * DAY);
    const name = await f.dayPartition(old);
    const at = new Date(partitionCalendar('day').floor(old).getTime() + 60_000);
    const sentId = await f.insert({ createdAt: at, status: 'sent' });
    await f.insert({ createdAt: at, status: 'pending' });
    await f.insert({ createdAt: at, status: 'dead' });

    const report = await f.store.maintainPartitions({ lockId: f.lockId, moveLimit: 1 });
    expect(report.dropped).toEqual([]);
    expect(report.kept).toEqual([{ name, pending: 1, dead: 1, reason: 'undelivered' }]);
    expect(await f.exists(name)).toBe(true);
    expect(await f.store.get(sentId)).toMatchObject({ status: 'sent' });
    expect((await f.store.partitions()).partitions.find((p) => p.name === name)).toMatchObject({
      pastRetention: true,
      pending: 1,
      dead: 1,
    });

    // Delivered and purged, the partition goes on the next run.
    await f.store.purge('dead', { all: true });
    await f.store.transaction(async (tx) => {
      const claimed = await f.store.claim(tx, 10);
      await f.store.markSent(
        tx,
        claimed.map((m) => m.id),
      );
    });
    const next = await f.store.maintainPartitions({ lockId: f.lockId, moveLimit: 1 });
    expect(next).toMatchObject({ dropped: [name], moved: [], kept: [] });
  });

  it('drops empty and sent-only partitions past retention, and keeps those within it', async () => {
    const now = await f.store.now();
    const calendar = partitionCalendar('day');
    const gone = await f.dayPartition(new Date(now.getTime() - 3 * DAY));
    const kept = await f.dayPartition(new Date(now.getTime() - 2 * DAY));
    await f.insert({
      createdAt: new Date(calendar.floor(new Date(now.getTime() - 3 * DAY)).getTime() + 1),
      status: 'sent',
    });
    const report = await f.store.maintainPartitions({ lockId: f.lockId });
    expect(report).toMatchObject({ ran: true, dropped: [gone], moved: [] });
    expect(await f.exists(gone)).toBe(false);
    expect(await f.exists(kept)).toBe(true);
    // A run-time override of retention.
    const shorter = await f.store.maintainPartitions({ lockId: f.lockId, retention: 1 });
    expect(shorter.dropped).toEqual([kept]);
  });

  it('an insert succeeds when no partition exists for its date, and a later run moves it out of DEFAULT', async () => {
    const calendar = partitionCalendar('day');
    const today = `outbox_messages_p${calendar.suffix(calendar.floor(await f.store.now()))}`;
    await f.sql(`DROP TABLE ${f.q(today)}`);
    await f.store.db.transaction((tx) => f.store.add(tx, { topic: 'orders', payload: { n: 1 } }));
    const [m] = await f.store.list({ status: 'pending' });
    expect(await f.partitionOf(m!.id)).toBe('outbox_messages_default');

    const report = await f.store.maintainPartitions({ lockId: f.lockId });
    expect(report).toMatchObject({ ran: true, created: [today], movedFromDefault: 1, skipped: [] });
    expect(await f.partitionOf(m!.id)).toBe(today);
    expect(await f.store.get(m!.id)).toEqual(m);

    const sender = recordingSender();
    await createRelay({ store: f.store, sender }).runOnce();
    expect(sender.sentIds).toEqual([m!.id]);
  });

  it('recreates a missing DEFAULT partition', async () => {
    await f.sql(`DROP TABLE ${f.q('outbox_messages_default')}`);
    const report = await f.store.maintainPartitions({ lockId: f.lockId });
    expect(report.created).toContain('outbox_messages_default');
    const farFuture = new Date(Date.UTC(2100, 0, 1));
    const id = await f.insert({ createdAt: farFuture });
    expect(await f.partitionOf(id)).toBe('outbox_messages_default');
  });

  it('two runs at once: one works, the other skips, and the lock is never left held', async () => {
    const calendar = partitionCalendar('day');
    const tomorrow = `outbox_messages_p${calendar.suffix(calendar.shift(calendar.floor(await f.store.now()), 1))}`;
    await f.sql(`DROP TABLE ${f.q(tomorrow)}`);

    // Hold the first run inside its transaction: attaching a partition waits for a lock on
    // DEFAULT, which this transaction holds.
    const blocker = await f.pool.connect();
    await blocker.query('BEGIN');
    await blocker.query(`LOCK TABLE ${f.q('outbox_messages_default')} IN ACCESS SHARE MODE`);
    const first = f.store.maintainPartitions({ lockId: f.lockId, lockTimeoutMs: 60_000 });
    await waitFor(async () => (await advisoryLocksHeld(f.lockId)) === 1, {
      message: 'the first run to lock',
    });

    const second = await f.store.maintainPartitions({ lockId: f.lockId });
    expect(second).toMatchObject({ ran: false, created: [], dropped: [] });

    await blocker.query('COMMIT');
    blocker.release();
    const report: PartitionMaintenanceReport = await first;
    expect(report).toMatchObject({ ran: true, created: [tomorrow] });
    expect(await advisoryLocksHeld(f.lockId)).toBe(0);

    // And in parallel from one process: whatever the interleaving, no lock stays behind.
    const runs = await Promise.all([1, 2, 3].map(() => f.store.maintainPartitions({ lockId: f.lockId })));
    expect(runs.some((r) => r.ran)).toBe(true);
    expect(await advisoryLocksHeld(f.lockId)).toBe(0);
  });

  it('a step that cannot get its lock in time is skipped and reported; the rest of the run commits', async () => {
    const calendar = partitionCalendar('day');
    const now = await f.store.now();
    const old = await f.dayPartition(new Date(now.getTime() - 5 * DAY));
    const tomorrow = `outbox_messages_p${calendar.suffix(calendar.shift(calendar.floor(now), 1))}`;
    await f.sql(`DROP TABLE ${f.q(tomorrow)}`);
    // A long transaction reading the old partition: dropping it needs an exclusive lock.
    const reader = await f.pool.connect();
    await reader.query('BEGIN');
    await reader.query(`SELECT count(*) FROM ${f.q(old)}`);
    try {
      const report = await f.store.maintainPartitions({ lockId: f.lockId, lockTimeoutMs: 200 });
      expect(report.created).toEqual([tomorrow]);
      expect(report.dropped).toEqual([]);
      expect(report.kept).toEqual([
        { name: old, pending: 0, dead: 0, reason: 'failed', error: 'lock timeout' },
      ]);
    } finally {
      await reader.query('COMMIT');
      reader.release();
    }
    expect(await f.exists(tomorrow)).toBe(true);
    expect((await f.store.maintainPartitions({ lockId: f.lockId })).dropped).toEqual([old]);
  });

  it('never touches a table that only looks like a partition', async () => {
    const now = await f.store.now();
    const t = f.table;
    // Not children of the outbox table at all.
    await f.sql(`CREATE TABLE ${f.q('outbox_messages_1backup')} (id int)`);
    await f.sql(`CREATE TABLE ${f.q('outbox_messages_p20200101')} (id int)`);
    // Children, but not named as maintenance names them, or with other bounds than their name says.
    await f.sql(
      `CREATE TABLE ${f.q('outbox_messages_archive')} PARTITION OF ${t} FOR VALUES FROM ('2020-02-01Z') TO ('2020-03-01Z')`,
    );
    await f.sql(
      `CREATE TABLE ${f.q('outbox_messages_p20200401')} PARTITION OF ${t} FOR VALUES FROM ('2020-04-01Z') TO ('2020-04-03Z')`,
    );
    const report = await f.store.maintainPartitions({ lockId: f.lockId, retention: 0 });
    expect(report.dropped).toEqual([]);
    for (const name of [
      'outbox_messages_1backup',
      'outbox_messages_p20200101',
      'outbox_messages_archive',
      'outbox_messages_p20200401',
    ])
      expect(await f.exists(name), name).toBe(true);
    const kinds = Object.fromEntries((await f.store.partitions()).partitions.map((p) => [p.name, p.kind]));
    expect(kinds).toMatchObject({ outbox_messages_archive: 'foreign', outbox_messages_p20200401: 'foreign' });
    expect(kinds).not.toHaveProperty('outbox_messages_1backup');
    expect(now).toBeInstanceOf(Date);
  });

  it('skips a range whose partition name is taken by an unrelated table', async () => {
    const calendar = partitionCalendar('day');
    const tomorrow = `outbox_messages_p${calendar.suffix(calendar.shift(calendar.floor(await f.store.now()), 1))}`;
    await f.sql(`DROP TABLE ${f.q(tomorrow)}`);
    await f.sql(`CREATE TABLE ${f.q(tomorrow)} (note text)`);
    const report = await f.store.maintainPartitions({ lockId: f.lockId });
    expect(report.skipped).toEqual([
      { name: tomorrow, reason: 'a table of that name exists and is not a partition of the outbox' },
    ]);
    expect(report.created).toEqual([]);
    // Rows of that day still have a home: DEFAULT.
    const id = await f.insert({
      createdAt: new Date(calendar.shift(calendar.floor(await f.store.now()), 1).getTime() + 1),
    });
    expect(await f.partitionOf(id)).toBe('outbox_messages_default');
  });

  it('deletes old sent rows left in DEFAULT, never pending or dead ones', async () => {
    const old = new Date((await f.store.now()).getTime() - 30 * DAY);
    const sent = await f.insert({ createdAt: old, status: 'sent' });
    const pending = await f.insert({ createdAt: old, status: 'pending' });
    const dead = await f.insert({ createdAt: old, status: 'dead' });
    const report = await f.store.maintainPartitions({ lockId: f.lockId });
    expect(report.prunedFromDefault).toBe(1);
    expect(await f.store.get(sent)).toBeNull();
    expect(await f.store.get(pending)).toMatchObject({ status: 'pending' });
    expect(await f.store.get(dead)).toMatchObject({ status: 'dead' });
  });

  it('startPartitionMaintenance runs at once and on its interval, and stops', async () => {
    const reports: PartitionMaintenanceReport[] = [];
    const job = startPartitionMaintenance(f.store, {
      lockId: f.lockId,
      intervalMs: 20,
      onRun: (r) => reports.push(r),
    });
    await waitFor(() => reports.length >= 2, { message: 'two runs' });
    await job.stop();
    const seen = reports.length;
    expect(reports.every((r) => r.ran)).toBe(true);
    expect(await advisoryLocksHeld(f.lockId)).toBe(0);
    // Stopped means stopped: another run would take its lock and report.
    await f.store.maintainPartitions({ lockId: f.lockId });
    expect(reports.length).toBe(seen);
  });

  it('completing a claimed batch touches only its partition, through the primary key, before any ANALYZE', async () => {
    await f.sql(
      `INSERT INTO ${f.table} (topic, payload) SELECT 'bulk', convert_to('{}', 'UTF8') FROM generate_series(1, 200000)`,
    );
    const plan = await f.store.transaction(async (tx) => {
      const seen: { sql: string; params: readonly unknown[] }[] = [];
      const observed: Executor = {
        query: <Row>(sql: string, params?: readonly unknown[]) => {
          seen.push({ sql, params: params ?? [] });
          return tx.query<Row>(sql, params);
        },
      };
      const claimed = await f.store.claim(observed, 500);
      await f.store.markSent(
        observed,
        claimed.map((m) => m.id),
      );
      const complete = seen.at(-1)!;
      const { rows } = await tx.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${complete.sql}`, complete.params);
      return rows.map((r) => r['QUERY PLAN']).join('\n');
    });
    expect(plan).not.toMatch(/Seq Scan/);
    expect(plan).toMatch(/_pkey/);
    // Pruned to today's partition: the others (premade, DEFAULT) are not in the plan.
    expect(plan).not.toMatch(/outbox_messages_default/);
    expect(await f.store.count('sent')).toMatchObject({ count: 500 });
  });

  it('by-id operations use each partition’s primary-key index', async () => {
    const plan = await f.store.db.transaction(async (tx) => {
      await tx.query('SET LOCAL enable_seqscan = off');
      const { rows } = await tx.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN SELECT * FROM ${f.table} WHERE id = ANY($1::bigint[])`,
        [['1', '2']],
      );
      return rows.map((r) => r['QUERY PLAN']).join('\n');
    });
    expect(plan).toMatch(/_pkey/);
    expect(plan).not.toMatch(/Seq Scan/);
  });
});

describe('partitioned mode: options and errors', () => {
  it('refuses to treat an existing plain table as partitioned', async () => {
    const schema = uniqueName('part');
    const db = pgPool(f.pool);
    try {
      await new SqlMessageStore({ dialect: postgres({ schema }), db }).migrate();
      const partitioned = new SqlMessageStore({ dialect: postgres({ schema, partitioned: true }), db });
      await expect(partitioned.migrate()).rejects.toSatisfy(
        (e) => isOutboxError(e, 'MIGRATION_FAILED') && /plain table/.test((e as Error).message),
      );
      await expect(partitioned.maintainPartitions({ lockId: 1 })).rejects.toSatisfy((e) =>
        isOutboxError(e, 'INVALID_OPTION'),
      );
      expect(await partitioned.partitions()).toMatchObject({ partitioned: false, partitions: [] });
    } finally {
      await f.pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    }
  });

  it('checks options before anything runs', async () => {
    expect(() => postgres({ partitioned: { interval: 'fortnight' as never } })).toThrow(/interval/);
    expect(() => postgres({ partitioned: { interval: { minutes: 7 } } })).toThrow(/dividing 1440/);
    expect(() => postgres({ partitioned: { premake: -1 } })).toThrow(/premake/);
    for (const lockId of [1.5, '12a', 2n ** 63n, undefined]) {
      await expect(f.store.maintainPartitions({ lockId: lockId as never })).rejects.toSatisfy((e) =>
        isOutboxError(e, 'INVALID_OPTION'),
      );
    }
    expect(() => startPartitionMaintenance(f.store, { lockId: 1, intervalMs: 0 })).toThrow(/intervalMs/);
    expect(resolvePartitionOptions(true)).toEqual({ interval: 'day', premake: 7, retention: 7 });
  });

  it('a table created with another interval than the dialect says is refused', async () => {
    const other = new SqlMessageStore({
      dialect: postgres({ schema: f.schema, partitioned: { interval: 'hour' } }),
      db: pgPool(f.pool),
    });
    await expect(other.maintainPartitions({ lockId: f.lockId })).rejects.toSatisfy(
      (e) => isOutboxError(e, 'INVALID_OPTION') && /partitioned by "day"/.test((e as Error).message),
    );
    // Without the option, the stored configuration is used.
    const plainDialect = new SqlMessageStore({ dialect: postgres({ schema: f.schema }), db: pgPool(f.pool) });
    expect((await plainDialect.maintainPartitions({ lockId: f.lockId })).ran).toBe(true);
    expect((await plainDialect.partitions()).options).toEqual({ interval: 'day', premake: 2, retention: 2 });
  });
});

describe('partition calendar', () => {
  it('parses names strictly for each interval', () => {
    const day = partitionCalendar('day');
    expect(day.parse('20261128')).toEqual(new Date('2026-11-28T00:00:00Z'));
    for (const bad of ['20261131', '2026112', '202611280', '1backup', '2026-11-28', '20261128 '])
      expect(day.parse(bad), bad).toBeNull();
    const week = partitionCalendar('week');
    expect(week.parse('20261123')).toEqual(new Date('2026-11-23T00:00:00Z')); // a Monday
    expect(week.parse('20261124')).toBeNull();
    const month = partitionCalendar('month');
    expect(month.parse('202611')).toEqual(new Date('2026-11-01T00:00:00Z'));
    expect(month.parse('202613')).toBeNull();
    const quarter = partitionCalendar({ minutes: 15 });
    expect(quarter.parse('202611281345')).toEqual(new Date('2026-11-28T13:45:00Z'));
    expect(quarter.parse('202611281350')).toBeNull();
    const hour = partitionCalendar('hour');
    expect(hour.suffix(hour.floor(new Date('2026-11-28T13:59:59Z')))).toBe('2026112813');
  });

  it('floors and shifts in UTC across month and year ends', () => {
    const month = partitionCalendar('month');
    expect(month.shift(new Date('2026-12-01T00:00:00Z'), 1)).toEqual(new Date('2027-01-01T00:00:00Z'));
    expect(month.shift(new Date('2026-01-01T00:00:00Z'), -2)).toEqual(new Date('2025-11-01T00:00:00Z'));
    const week = partitionCalendar('week');
    expect(week.floor(new Date('2026-11-29T23:00:00Z'))).toEqual(new Date('2026-11-23T00:00:00Z'));
    const day = partitionCalendar('day');
    expect(day.floor(new Date('2026-11-28T23:59:59.999Z'))).toEqual(new Date('2026-11-28T00:00:00Z'));
  });
});
