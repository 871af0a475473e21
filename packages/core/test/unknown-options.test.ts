// Rule: every public factory of core that takes an options object refuses a name it does not
// know with INVALID_OPTION (naming it, and the option meant where one is close), instead of
// ignoring it and quietly using the default. Nested option objects too.
import mysqlDriver from 'mysql2/promise';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createOutbox,
  createRelay,
  isOutboxError,
  mysql,
  mysql2Pool,
  pgClient,
  pgPool,
  postgres,
  SqlMessageStore,
} from '../src/index.js';
import { mysqlUrl, pgUrl } from './databases.js';
import { scriptedSender } from './helpers.js';

// Pools that are never used: creating them opens no connection.
const pool = new pg.Pool({ connectionString: pgUrl, max: 1 });
const mysqlPool = mysqlDriver.createPool({ uri: mysqlUrl, connectionLimit: 1 });
afterAll(async () => {
  await pool.end();
  await mysqlPool.end();
});

const dialect = postgres();
const db = pgPool(pool);
const store = new SqlMessageStore({ dialect, db });
const sender = scriptedSender();

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(isOutboxError(error, 'INVALID_OPTION'), String(error)).toBe(true);
    return (error as Error).message;
  }
  throw new Error('expected INVALID_OPTION, nothing was thrown');
}

describe('an unknown option name is INVALID_OPTION', () => {
  const cases: [string, () => unknown, string, string | null][] = [
    ['createOutbox', () => createOutbox({ dialect, onadd: () => {} } as never), 'onadd', 'onAdd'],
    [
      'createOutbox limits',
      () => createOutbox({ dialect, limits: { maxPayload: 10 } } as never),
      'maxPayload',
      'maxPayloadBytes',
    ],
    [
      'SqlMessageStore',
      () => new SqlMessageStore({ dialect, db, autoCommit: true } as never),
      'autoCommit',
      'autocommit',
    ],
    [
      'SqlMessageStore limits',
      () => new SqlMessageStore({ dialect, db, limits: { maxKeyLen: 9 } } as never),
      'maxKeyLen',
      null,
    ],
    [
      'createRelay',
      () => createRelay({ store, sender, pollIntervalMS: 10 } as never),
      'pollIntervalMS',
      'pollIntervalMs',
    ],
    [
      'createRelay backoff',
      () => createRelay({ store, sender, backoff: { maxDelay: 10 } } as never),
      'maxDelay',
      null,
    ],
    ['postgres', () => postgres({ tabel: 'outbox' } as never), 'tabel', 'table'],
    ['postgres: a MySQL option', () => postgres({ database: 'app' } as never), 'database', null],
    ['postgres notify', () => postgres({ notify: { minInterval: 5 } } as never), 'minInterval', null],
    ['postgres partitioned', () => postgres({ partitioned: { retain: 3 } } as never), 'retain', null],
    ['mysql: a PostgreSQL option', () => mysql({ schema: 'app' } as never), 'schema', null],
    ['pgClient', () => pgClient(pool, { prepared: false } as never), 'prepared', 'prepare'],
    ['pgPool', () => pgPool(pool, { onError: () => {} } as never), 'onError', null],
    [
      'mysql2Pool',
      () => mysql2Pool(mysqlPool, { onConnectError: () => {} } as never),
      'onConnectError',
      'onConnectionError',
    ],
  ];
  it.each(cases)('%s', (_, fn, name, near) => {
    const message = refusal(fn);
    expect(message).toContain(`unknown option "${name}"`);
    if (near) expect(message).toContain(`did you mean ${near}?`);
  });
});

describe('every documented option name is accepted', () => {
  it('createOutbox, SqlMessageStore and createRelay with all their options', () => {
    const limits = { maxPayloadBytes: 10, maxTopicLength: 10, maxKeyLength: 10, maxHeaderBytes: 100 };
    createOutbox({ dialect, limits, onAdd: () => {}, traceContext: false, autocommit: false });
    new SqlMessageStore({ dialect, db, limits, adminBatchSize: 10, autocommit: false });
    createRelay({
      store,
      sender,
      batchSize: 1,
      concurrency: 1,
      pollIntervalMs: 1,
      maxAttempts: 1,
      backoff: { initialDelayMs: 1, factor: 1, maxDelayMs: 1, jitter: 0 },
      sendTimeoutMs: 1,
      stopTimeoutMs: 1,
      errorDelayMs: 1,
      onError: () => {},
      closeSender: false,
      maxErrorLength: 100,
      listen: false,
      listenRetryDelayMs: 1,
      telemetry: false,
    });
  });

  it('the dialects and executors with all their options', () => {
    postgres({
      schema: 's',
      table: 't',
      partitioned: { interval: 'day', premake: 1, retention: 1 },
      ordering: 'key',
      notify: { minIntervalMs: 1 },
    });
    mysql({ database: 'd', table: 't', lockTimeoutSeconds: 1, ordering: 'none' });
    pgClient(pool, { prepare: false });
    pgPool(pool, { prepare: false, onConnectionError: () => {} });
    mysql2Pool(mysqlPool, { onConnectionError: () => {} });
    // Options may be given as undefined, the way spread configuration often carries them.
    expect(postgres({ schema: undefined, table: undefined }).tableName).toBe('"public"."outbox_messages"');
  });
});
