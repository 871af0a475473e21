// Rule: the documented producer survives a database restart. The README's producer loop runs
// in a child process; every session it has is ended by pg_terminate_backend (57P01, the error a
// restart gives) again and again: the process keeps running and producing, every order it saw
// committed is in the table with its message, and no order whose transaction failed is.
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pgPool, postgres, SqlMessageStore } from '@troutbox/core';
import { uniqueName, waitFor } from '@troutbox/core/testing';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = uniqueName('producer_restart');
const applicationName = uniqueName('producer');
let admin: pg.Pool;
let child: ChildProcess | undefined;

beforeAll(async () => {
  admin = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  await new SqlMessageStore({ dialect: postgres({ schema }), db: pgPool(admin) }).migrate();
  await admin.query(`CREATE TABLE "${schema}".orders (id integer PRIMARY KEY, total integer NOT NULL)`);
});
afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await admin.end();
});

/** End every session of the producer, as a restart would; returns how many. */
async function restart(): Promise<number> {
  const { rows } = await admin.query<{ n: number }>(
    'SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = $1',
    [applicationName],
  );
  return rows[0]!.n;
}

it('the documented producer survives a database restart: it keeps producing, every committed order is stored with its message, no failed one is', async () => {
  const url = new URL(databaseUrl);
  url.searchParams.set('application_name', applicationName);
  const proc = spawn(
    process.execPath,
    ['--conditions=@troutbox/source', '--import', 'tsx', join(here, '../src/producer-main.ts')],
    {
      cwd: join(here, '..'),
      env: { ...process.env, DATABASE_URL: url.toString(), OUTBOX_SCHEMA: schema },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child = proc;
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (chunk) => {
    stdout += String(chunk);
  });
  proc.stderr!.on('data', (chunk) => {
    stderr += String(chunk);
  });
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const lines = () => stdout.split('\n').filter(Boolean);
  const ids = (status: string) =>
    lines()
      .filter((l) => l.startsWith(`${status} `))
      .map((l) => Number(l.split(' ')[1]));
  const alive = () => proc.exitCode === null && proc.signalCode === null;

  await waitFor(() => ids('committed').length >= 20 || !alive(), {
    timeoutMs: 30_000,
    message: 'the producer to commit 20 orders',
  });
  expect(alive(), stderr).toBe(true);

  // Restart until a transaction was caught in flight (57P01 on its statement; the loop is inside
  // one nearly all the time), at least three times; after each, the same process must commit again.
  const caughtInFlight = () => lines().some((l) => l.startsWith('failed ') && l.includes(' 57P01 '));
  let restarts = 0;
  for (let round = 0; round < 20 && (restarts < 3 || !caughtInFlight()); round++) {
    const before = ids('committed').length;
    if ((await restart()) > 0) restarts++;
    await waitFor(() => ids('committed').length >= before + 5 || !alive(), {
      timeoutMs: 20_000,
      message: 'the producer to commit again after a restart',
    });
    expect(alive(), `the producer died: ${stderr}`).toBe(true);
  }
  expect(restarts).toBeGreaterThanOrEqual(3);
  expect(caughtInFlight(), stdout).toBe(true);

  proc.kill('SIGTERM');
  expect(await exited, stderr).toBe(0);
  expect(lines().at(-1)).toBe('stopped');
  expect(stderr).not.toMatch(/Unhandled|57P01/);

  const committed = ids('committed');
  const notCommitted = [...ids('failed'), ...ids('declined')];
  expect(ids('declined').length).toBeGreaterThan(0);
  const stored = await admin.query<{ id: number; key: string | null }>(
    `SELECT o.id, m.key FROM "${schema}".orders o FULL JOIN "${schema}".outbox_messages m ON m.key = o.id::text ORDER BY 1`,
  );
  // Every order has its message and every message its order: they committed together.
  expect(stored.rows.every((r) => r.id !== null && r.key === String(r.id))).toBe(true);
  expect(stored.rows.map((r) => r.id)).toEqual([...committed].sort((a, b) => a - b));
  const storedIds = new Set(stored.rows.map((r) => r.id));
  expect(notCommitted.filter((id) => storedIds.has(id))).toEqual([]);
  console.info(
    `producer: ${committed.length} committed, ${ids('declined').length} declined, ${ids('failed').length} failed by ${restarts} restarts`,
  );
});
