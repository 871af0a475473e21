import { PassThrough } from 'node:stream';
import {
  type Dialect,
  type Mysql2PoolLike,
  mysql,
  mysql2Pool,
  type NewMessage,
  pgPool,
  postgres,
  SqlMessageStore,
} from '@troutbox/core';
import { uniqueName } from '@troutbox/core/testing';
import mysqlDriver from 'mysql2/promise';
import pg from 'pg';
import type { CliIO, OutputStream } from '../src/io.js';
import { main } from '../src/main.js';

// Test harness: one outbox table per test on a real database, and an in-process runner of the
// CLI with captured output and a fake terminal where a test needs one.

export const PG_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const MYSQL_URL = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';

/** What one CLI run printed. */
export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout parsed as JSON. */
  json<T = any>(): T;
}

export interface RunOptions {
  /** Lines typed at the (fake) terminal. */
  readonly input?: string;
  /** stdin is a terminal. @defaultValue false */
  readonly stdinTTY?: boolean;
  /** stderr is a terminal (progress bar drawn in place). @defaultValue false */
  readonly stderrTTY?: boolean;
  readonly env?: Record<string, string | undefined>;
}

function capture(isTTY: boolean): OutputStream & { text(): string } {
  const chunks: string[] = [];
  return { write: (s: string) => chunks.push(s), isTTY, columns: 100, text: () => chunks.join('') };
}

/** Run the CLI in-process with captured output. */
export async function runCli(args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const stdout = capture(false);
  const stderr = capture(options.stderrTTY ?? false);
  const stdin = Object.assign(new PassThrough(), { isTTY: options.stdinTTY ?? false });
  if (options.input !== undefined) stdin.end(options.input);
  const io: CliIO = { stdout, stderr, stdin, env: options.env ?? {} };
  const code = await main(args, io);
  return {
    code,
    stdout: stdout.text(),
    stderr: stderr.text(),
    json: () => JSON.parse(stdout.text()),
  };
}

/** The columns a test may move back in time. */
export type TimeColumn = 'created_at' | 'sent_at' | 'available_at';

/** An outbox table of its own on one database, and the CLI aimed at it. */
export interface Fixture {
  readonly store: SqlMessageStore;
  readonly dialect: Dialect;
  /** `--url … --schema …` for this table. */
  readonly target: readonly string[];
  run(args: readonly string[], options?: RunOptions): Promise<RunResult>;
  add(messages: NewMessage | readonly NewMessage[]): Promise<void>;
  /** Move a timestamp of one message `seconds` into the past (relative to the database clock). */
  backdate(id: string, column: TimeColumn, seconds: number): Promise<void>;
  close(): Promise<void>;
}

/** One database the suite runs against. */
export interface TestDatabase {
  readonly name: string;
  readonly url: string;
  /** A URL of the same kind where nothing listens. */
  readonly unreachableUrl: string;
  /** The same database under the protocol's other name (postgresql://, mariadb://). */
  readonly aliasUrl: string;
  /** In flight is measurable here (a row-lock view exists). */
  readonly seesRowLocks: boolean;
  /** A new, migrated (unless `migrate: false`) outbox in a schema/database of its own. */
  create(options?: { migrate?: boolean }): Promise<Fixture>;
}

function fixture(
  url: string,
  schema: string,
  store: SqlMessageStore,
  backdateSql: (column: TimeColumn) => string,
  close: () => Promise<void>,
): Fixture {
  const target = ['--url', url, '--schema', schema];
  return {
    store,
    dialect: store.dialect,
    target,
    run: (args, options) => runCli([...args, ...target], options),
    add: async (messages) => {
      await store.db.transaction((tx) => store.add(tx, messages));
    },
    backdate: async (id, column, seconds) => {
      await store.db.query(backdateSql(column), [seconds, id]);
    },
    close,
  };
}

export const postgresDatabase: TestDatabase = {
  name: 'postgres',
  url: PG_URL,
  unreachableUrl: 'postgres://postgres@127.0.0.1:1/test',
  aliasUrl: PG_URL.replace(/^postgres:/, 'postgresql:'),
  seesRowLocks: true,
  async create(options = {}) {
    const schema = uniqueName('cli');
    const pool = new pg.Pool({ connectionString: PG_URL, max: 4 });
    const dialect = postgres({ schema });
    const store = new SqlMessageStore({ dialect, db: pgPool(pool) });
    if (options.migrate !== false) await store.migrate();
    return fixture(
      PG_URL,
      schema,
      store,
      (column) =>
        `UPDATE ${dialect.tableName} SET ${column} = now() - $1 * interval '1 second' WHERE id = $2::bigint`,
      async () => {
        await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await pool.end();
      },
    );
  },
};

export const mariadbDatabase: TestDatabase = {
  name: 'mariadb',
  url: MYSQL_URL,
  unreachableUrl: 'mysql://root@127.0.0.1:1/test',
  aliasUrl: MYSQL_URL.replace(/^mysql:/, 'mariadb:'),
  seesRowLocks: false,
  async create(options = {}) {
    const database = uniqueName('cli');
    const pool = mysqlDriver.createPool({ uri: MYSQL_URL, connectionLimit: 4 });
    const dialect = mysql({ database });
    const store = new SqlMessageStore({ dialect, db: mysql2Pool(pool as unknown as Mysql2PoolLike) });
    if (options.migrate !== false) await store.migrate();
    return fixture(
      MYSQL_URL,
      database,
      store,
      (column) =>
        `UPDATE ${dialect.tableName} SET ${column} = UTC_TIMESTAMP(6) - INTERVAL ? SECOND WHERE id = ?`,
      async () => {
        await pool.query(`DROP DATABASE IF EXISTS \`${database}\``);
        await pool.end();
      },
    );
  },
};

/** A hand-crafted byte payload that is not UTF-8. */
export const BYTES = Uint8Array.from([0x00, 0x01, 0x02, 0xff, 0x7b, 0x22, 0x68, 0x69, 0x22, 0x7d]);
export const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

/** Ids of the seeded messages, by role. */
export interface Seeded {
  readonly deadJson: string;
  readonly deadBytes: string;
  readonly deadBilling: string;
  readonly sentNow: string;
  readonly sentHalfHourAgo: string;
  readonly sentTwoHoursAgo: string;
  readonly pending: readonly string[];
  readonly scheduled: string;
}

/**
 * 3 dead letters (JSON with an error, bytes, and one on topic `billing` with headers), 3 sent
 * (now, 30 min and 2 h ago), 3 pending and due (the oldest created 2 minutes ago), 1 scheduled
 * an hour ahead.
 */
export async function seed(f: Fixture): Promise<Seeded> {
  await f.add([
    { topic: 'orders', key: 'o-1', payload: { type: 'OrderPlaced', order: 1 } },
    { topic: 'files', key: 'f-1', payload: BYTES },
    { topic: 'billing', key: 'b-1', payload: { invoice: 7 }, headers: { traceparent: TRACEPARENT } },
    { topic: 'orders', key: 'o-2', payload: { order: 2 } },
    { topic: 'orders', key: 'o-3', payload: { order: 3 } },
    { topic: 'orders', key: 'o-4', payload: { order: 4 } },
  ]);
  const ids = await f.store.transaction(async (tx) => {
    const claimed = await f.store.claim(tx, 100);
    const byKey = new Map(claimed.map((m) => [m.key, m.id]));
    const id = (key: string) => byKey.get(key)!;
    await f.store.complete(tx, [
      { id: id('o-1'), status: 'dead', error: 'broker rejected: order 1 is invalid' },
      { id: id('f-1'), status: 'dead', error: 'Error: poison bytes' },
      { id: id('b-1'), status: 'dead', error: 'permanent: no route for billing' },
      { id: id('o-2'), status: 'sent' },
      { id: id('o-3'), status: 'sent' },
      { id: id('o-4'), status: 'sent' },
    ]);
    return { id, count: claimed.length };
  });
  if (ids.count !== 6) throw new Error(`seed claimed ${ids.count} messages, expected 6`);
  await f.backdate(ids.id('o-3'), 'sent_at', 30 * 60);
  await f.backdate(ids.id('o-4'), 'sent_at', 2 * 3600);

  await f.add([
    { topic: 'orders', key: 'p-1', payload: { order: 11 } },
    { topic: 'orders', key: 'p-2', payload: { order: 12 } },
    { topic: 'shipping', key: 'p-3', payload: { order: 13 } },
    { topic: 'orders', key: 's-1', payload: { order: 14 }, availableAt: new Date(Date.now() + 3600_000) },
  ]);
  const pending = await f.store.list({ status: 'pending', limit: 10 });
  const byKey = new Map(pending.map((m) => [m.key, m.id]));
  await f.backdate(byKey.get('p-1')!, 'created_at', 120);
  return {
    deadJson: ids.id('o-1'),
    deadBytes: ids.id('f-1'),
    deadBilling: ids.id('b-1'),
    sentNow: ids.id('o-2'),
    sentHalfHourAgo: ids.id('o-3'),
    sentTwoHoursAgo: ids.id('o-4'),
    pending: ['p-1', 'p-2', 'p-3'].map((k) => byKey.get(k)!),
    scheduled: byKey.get('s-1')!,
  };
}
