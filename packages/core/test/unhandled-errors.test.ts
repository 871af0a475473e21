// Rule: a relay that fails is never silent. With no `onError` and no 'error' listener, each
// distinct failure (operation and message) is logged — to `console.warn` or the `logger` option —
// at most once a minute, with the number of repeats not shown since; a relay whose errors are
// handled logs nothing.
import { createServer } from 'node:net';
import mysqlDriver from 'mysql2/promise';
import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  createRelay,
  isOutboxError,
  type MessageStore,
  mysql2Pool,
  pgPool,
  type RelayOptions,
  SqlMessageStore,
  type TransactionalExecutor,
} from '../src/index.js';
import { uniqueName, waitFor } from '../src/testing/index.js';
import { mysqlUrl, pgUrl } from './databases.js';
import { createTestOutbox, databases, scriptedSender, type TestOutbox } from './helpers.js';

let db: TestOutbox | undefined;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  for (const cleanup of cleanups.splice(0)) await cleanup();
  await db?.close();
  db = undefined;
});

/** A local port nothing listens on (taken, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A store on a database server that is not there, and how many of its transactions have failed. */
async function unreachableStore(name: 'postgres' | 'mysql'): Promise<{
  store: MessageStore;
  readonly attempts: number;
}> {
  const url = new URL(name === 'postgres' ? pgUrl : mysqlUrl);
  url.port = String(await closedPort());
  let db: TransactionalExecutor;
  if (name === 'postgres') {
    const pool = new pg.Pool({ connectionString: url.toString(), max: 1 });
    cleanups.push(() => pool.end());
    db = pgPool(pool);
  } else {
    const pool = mysqlDriver.createPool({ uri: url.toString(), connectionLimit: 1 });
    cleanups.push(() => pool.end());
    db = mysql2Pool(pool);
  }
  const database = databases.find((d) => d.name === name)!;
  const store = new SqlMessageStore({ dialect: database.dialect(uniqueName('gone')), db });
  let attempts = 0;
  const counted = new Proxy(store, {
    get(target, prop) {
      if (prop === 'transaction') {
        // Counted when the failure is back (not when asked), so every counted failure has
        // already reached the relay's error path.
        return (fn: Parameters<MessageStore['transaction']>[0]) =>
          target.transaction(fn).catch((error: unknown) => {
            attempts++;
            throw error;
          });
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return {
    store: counted,
    get attempts() {
      return attempts;
    },
  };
}

async function run(options: RelayOptions, until: () => boolean | Promise<boolean>, what: string) {
  const relay = createRelay(options);
  await relay.start();
  try {
    await waitFor(until, { message: what });
  } finally {
    await relay.stop();
  }
  return relay;
}

describe.each(databases)('a relay whose errors nobody handles, on $label', (database) => {
  it('that cannot reach its database (a closed port) logs one line per distinct failure, at most once a minute, then with the count of repeats not shown', async () => {
    const target = await unreachableStore(database.name);
    const lines: string[] = [];
    // Only Date is faked (and keeps running), so the minute can pass at once; timers stay real.
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
    const relay = createRelay({
      store: target.store,
      sender: scriptedSender(),
      errorDelayMs: 5,
      listen: false,
      logger: { warn: (line) => lines.push(line) },
    });
    await relay.start();
    try {
      await waitFor(() => target.attempts >= 10, { message: 'ten failed batches' });
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^troutbox relay: batch failed: .*ECONNREFUSED/);
      expect(lines[0]).toMatch(/onError/);
      const before = target.attempts;
      vi.setSystemTime(Date.now() + 61_000);
      await waitFor(() => lines.length === 2, { message: 'a second line after a minute' });
      const repeats = Number(/\((\d+) more since \S+ not shown\)/.exec(lines[1]!)?.[1]);
      expect(repeats).toBeGreaterThanOrEqual(before - 1);
      expect(lines[1]).toMatch(/^troutbox relay: batch failed: .*ECONNREFUSED/);
    } finally {
      await relay.stop();
    }
  });

  it('whose table was dropped logs the failure to console.warn by default, once', async () => {
    db = await createTestOutbox(database, { prefix: 'dropped' });
    await db.add({ topic: 't', payload: 1 });
    await db.sql('DROP TABLE $table');
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    let claims = 0;
    const store = new Proxy(db.store, {
      get(target, prop) {
        if (prop === 'transaction') {
          return (fn: Parameters<MessageStore['transaction']>[0]) => {
            claims++;
            return target.transaction(fn);
          };
        }
        const value = Reflect.get(target, prop, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    await run(
      { store, sender: scriptedSender(), errorDelayMs: 5, listen: false },
      () => claims >= 5,
      'five failed batches',
    );
    const ours = warn.mock.calls.map((c) => String(c[0])).filter((l) => l.startsWith('troutbox relay:'));
    expect(ours).toHaveLength(1);
    expect(ours[0]).toMatch(/batch failed: .*(does not exist|doesn't exist)/);
  });

  it('is silent when errors are handled by onError or an error listener, or logger is false', async () => {
    const target = await unreachableStore(database.name);
    const lines: string[] = [];
    const logger = { warn: (line: string) => lines.push(line) };
    const base = { store: target.store, sender: scriptedSender(), errorDelayMs: 5, listen: false, logger };
    const handled: string[] = [];
    let seen = target.attempts;
    await run(
      { ...base, onError: (_e, operation) => handled.push(operation) },
      () => target.attempts >= seen + 3,
      'three failed batches with onError',
    );
    seen = target.attempts;
    const relay = createRelay(base);
    relay.on('error', ({ operation }) => handled.push(operation));
    await relay.start();
    try {
      await waitFor(() => target.attempts >= seen + 3, { message: 'three failed batches with a listener' });
    } finally {
      await relay.stop();
    }
    seen = target.attempts;
    await run(
      { ...base, logger: false },
      () => target.attempts >= seen + 3,
      'three failed batches with logger: false',
    );
    expect(handled.length).toBeGreaterThanOrEqual(6);
    expect(lines).toEqual([]);
  });
});

describe('the logger option', () => {
  it('must be false or have warn(message); a logger that throws never stops the relay', async () => {
    const store = (await unreachableStore('postgres')).store;
    for (const logger of [true, {}, { warn: 'x' }, null]) {
      let error: unknown;
      try {
        createRelay({ store, sender: scriptedSender(), logger: logger as never });
      } catch (e) {
        error = e;
      }
      expect(isOutboxError(error, 'INVALID_OPTION'), String(logger)).toBe(true);
    }
    let calls = 0;
    const target = await unreachableStore('postgres');
    await run(
      {
        store: target.store,
        sender: scriptedSender(),
        errorDelayMs: 5,
        listen: false,
        logger: {
          warn: () => {
            calls++;
            throw new Error('logger down');
          },
        },
      },
      () => target.attempts >= 3,
      'the relay to go on after the logger threw',
    );
    expect(calls).toBe(1);
  });
});
