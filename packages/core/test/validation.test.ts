import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createOutbox,
  createRelay,
  isOutboxError,
  type NewMessage,
  type OutboxErrorCode,
  type RelayOptions,
  SqlMessageStore,
} from '../src/index.js';
import { createTestOutbox, databases, scriptedSender, type TestOutbox } from './helpers.js';

/** The error `fn` throws or rejects with (or null). */
async function caught(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
    return null;
  } catch (error) {
    return error;
  }
}

async function expectCode(fn: () => unknown, code: OutboxErrorCode, field?: string) {
  const error = await caught(fn);
  expect(isOutboxError(error, code), `expected ${code}, got ${String(error)}`).toBe(true);
  if (field !== undefined) expect((error as { context: { field?: string } }).context.field).toBe(field);
}

describe.each(databases)('on $label', (database) => {
  let db: TestOutbox;
  beforeAll(async () => {
    db = await createTestOutbox(database, { prefix: 'valid' });
  });
  afterAll(async () => {
    await db?.close();
  });
  const rowCount = () => db.count();

  describe('bad messages: a typed error per field, and nothing written', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const cases: [string, unknown, OutboxErrorCode, string][] = [
      ['null message', null, 'INVALID_MESSAGE', '[1]'],
      ['a string as message', 'hello', 'INVALID_MESSAGE', '[1]'],
      ['an array as message', [], 'INVALID_MESSAGE', '[1]'],
      ['an unknown field', { topic: 't', payload: 1, extra: true }, 'INVALID_MESSAGE', '[1].extra'],
      ['a misspelt field', { topic: 't', payload: 1, header: {} }, 'INVALID_MESSAGE', '[1].header'],
      ['no topic', { payload: 1 }, 'INVALID_MESSAGE', '[1].topic'],
      ['an empty topic', { topic: '', payload: 1 }, 'INVALID_MESSAGE', '[1].topic'],
      ['a number topic', { topic: 42, payload: 1 }, 'INVALID_MESSAGE', '[1].topic'],
      ['a topic too long', { topic: 't'.repeat(256), payload: 1 }, 'INVALID_MESSAGE', '[1].topic'],
      ['a number key', { topic: 't', key: 5, payload: 1 }, 'INVALID_MESSAGE', '[1].key'],
      ['a key too long', { topic: 't', key: 'k'.repeat(256), payload: 1 }, 'INVALID_MESSAGE', '[1].key'],
      ['no payload', { topic: 't' }, 'INVALID_MESSAGE', '[1].payload'],
      [
        'a function in the payload',
        { topic: 't', payload: { f: () => 1 } },
        'UNSERIALIZABLE_PAYLOAD',
        '[1].payload.f',
      ],
      [
        'NaN in the payload',
        { topic: 't', payload: { n: Number.NaN } },
        'UNSERIALIZABLE_PAYLOAD',
        '[1].payload.n',
      ],
      [
        'Infinity in the payload',
        { topic: 't', payload: [Infinity] },
        'UNSERIALIZABLE_PAYLOAD',
        '[1].payload[0]',
      ],
      ['a bigint payload', { topic: 't', payload: 10n }, 'UNSERIALIZABLE_PAYLOAD', '[1].payload'],
      [
        'a symbol in the payload',
        { topic: 't', payload: { s: Symbol('s') } },
        'UNSERIALIZABLE_PAYLOAD',
        '[1].payload.s',
      ],
      [
        'undefined in an array',
        { topic: 't', payload: [1, undefined] },
        'UNSERIALIZABLE_PAYLOAD',
        '[1].payload[1]',
      ],
      ['a cyclic payload', { topic: 't', payload: cyclic }, 'UNSERIALIZABLE_PAYLOAD', '[1].payload.self'],
      [
        'a Map in the payload',
        { topic: 't', payload: { m: new Map() } },
        'UNSERIALIZABLE_PAYLOAD',
        '[1].payload.m',
      ],
      [
        'bytes inside JSON',
        { topic: 't', payload: { b: new Uint8Array(1) } },
        'UNSERIALIZABLE_PAYLOAD',
        '[1].payload.b',
      ],
      [
        'a payload too large',
        { topic: 't', payload: 'x'.repeat(1024 * 1024) },
        'PAYLOAD_TOO_LARGE',
        '[1].payload',
      ],
      [
        'bytes too large',
        { topic: 't', payload: new Uint8Array(1024 * 1024 + 1) },
        'PAYLOAD_TOO_LARGE',
        '[1].payload',
      ],
      ['headers as an array', { topic: 't', payload: 1, headers: ['a'] }, 'INVALID_MESSAGE', '[1].headers'],
      ['null headers', { topic: 't', payload: 1, headers: null }, 'INVALID_MESSAGE', '[1].headers'],
      ['a number header', { topic: 't', payload: 1, headers: { h: 1 } }, 'INVALID_MESSAGE', '[1].headers.h'],
      [
        'an empty header name',
        { topic: 't', payload: 1, headers: { '': 'x' } },
        'INVALID_MESSAGE',
        '[1].headers',
      ],
      [
        'headers too large',
        { topic: 't', payload: 1, headers: { h: 'x'.repeat(17_000) } },
        'INVALID_MESSAGE',
        '[1].headers',
      ],
      [
        'availableAt as a string',
        { topic: 't', payload: 1, availableAt: 'tomorrow' },
        'INVALID_MESSAGE',
        '[1].availableAt',
      ],
      [
        'availableAt as a number',
        { topic: 't', payload: 1, availableAt: Date.now() },
        'INVALID_MESSAGE',
        '[1].availableAt',
      ],
      [
        'an invalid Date',
        { topic: 't', payload: 1, availableAt: new Date('nope') },
        'INVALID_MESSAGE',
        '[1].availableAt',
      ],
    ];

    it.each(cases)('%s', async (_, bad, code, field) => {
      const batch = [{ topic: 'valid-before', payload: 1 }, bad] as NewMessage[];
      // Through the store, in a transaction that would otherwise commit…
      await expectCode(() => db.store.db.transaction((tx) => db.store.add(tx, batch)), code, field);
      // …and through the producer API on a bare executor (autocommit): nothing is written either.
      const outbox = createOutbox({ dialect: db.dialect });
      await expectCode(() => outbox.add(db.store.db, batch), code, field);
      expect(await rowCount()).toBe(0);
    });

    it('a single message reports its field without an index', async () => {
      await expectCode(
        () => db.store.add(db.store.db, { topic: '', payload: 1 }),
        'INVALID_MESSAGE',
        'topic',
      );
      expect(await rowCount()).toBe(0);
    });

    it('an executor that is not one', async () => {
      const outbox = createOutbox({ dialect: db.dialect });
      await expectCode(() => outbox.add(null as never, { topic: 't', payload: 1 }), 'INVALID_OPTION');
      await expectCode(() => db.store.add({} as never, { topic: 't', payload: 1 }), 'INVALID_OPTION');
    });
  });

  describe(`bad ${database.namespaceOption} and table names: INVALID_IDENTIFIER`, () => {
    const field = database.namespaceOption;
    const bad: unknown[] = [
      'a;drop',
      '"x"',
      '`x`',
      '',
      'x'.repeat(database.maxNamespaceLength + 1),
      '1abc',
      'a b',
      'a-b',
      'fisch.table',
      'ü',
      42,
      {},
    ];
    it.each(bad.map((b) => [JSON.stringify(b) ?? String(b), b]))('%s', async (_, name) => {
      await expectCode(() => database.dialect(name as string), 'INVALID_IDENTIFIER', field);
      await expectCode(() => database.dialect('ok', name as string), 'INVALID_IDENTIFIER', 'table');
    });

    it(`accepts plain identifiers up to ${database.maxNamespaceLength} (${field}) and 48 (table) characters`, async () => {
      const namespace = `N${'x'.repeat(database.maxNamespaceLength - 1)}`;
      const table = `t${'x'.repeat(47)}`;
      expect(database.dialect(namespace, table).tableName).toBe(database.qualify(namespace, table));
      await expectCode(() => database.dialect('ok', `${table}x`), 'INVALID_IDENTIFIER', 'table');
    });
  });

  describe('bad options: INVALID_OPTION', () => {
    const sender = scriptedSender();
    const relayCases: [string, Partial<Record<keyof RelayOptions, unknown>>][] = [
      ['no store', { store: undefined }],
      ['a store without claim', { store: {} }],
      ['no sender', { sender: undefined }],
      ['a sender without send', { sender: { name: 'x' } }],
      ['batchSize 0', { batchSize: 0 }],
      ['batchSize -1', { batchSize: -1 }],
      ['batchSize 1.5', { batchSize: 1.5 }],
      ['batchSize as a string', { batchSize: '10' }],
      ['batchSize NaN', { batchSize: Number.NaN }],
      ['batchSize Infinity', { batchSize: Infinity }],
      ['concurrency 0', { concurrency: 0 }],
      ['pollIntervalMs 0', { pollIntervalMs: 0 }],
      ['maxAttempts 0', { maxAttempts: 0 }],
      ['sendTimeoutMs 0', { sendTimeoutMs: 0 }],
      ['stopTimeoutMs -1', { stopTimeoutMs: -1 }],
      ['errorDelayMs -5', { errorDelayMs: -5 }],
      ['maxErrorLength 5', { maxErrorLength: 5 }],
      ['onError not a function', { onError: 'log' }],
      ['closeSender not a boolean', { closeSender: 'yes' }],
      ['backoff not an object', { backoff: 5 }],
      ['backoff.factor < 1', { backoff: { factor: 0.5 } }],
      ['backoff.jitter > 1', { backoff: { jitter: 1.5 } }],
      ['backoff.initialDelayMs < 0', { backoff: { initialDelayMs: -1 } }],
      ['backoff.maxDelayMs < initialDelayMs', { backoff: { initialDelayMs: 1000, maxDelayMs: 10 } }],
      ['backoff.initialDelayMs as a string', { backoff: { initialDelayMs: '100' } }],
    ];
    it.each(relayCases)('createRelay: %s', async (_, patch) => {
      await expectCode(
        () => createRelay({ store: db.store, sender, ...patch } as RelayOptions),
        'INVALID_OPTION',
      );
    });

    it('runOnce and stop arguments', async () => {
      const relay = createRelay({ store: db.store, sender });
      await expectCode(() => relay.runOnce({ maxBatches: 0 }), 'INVALID_OPTION');
      await expectCode(() => relay.runOnce({ signal: 'stop' as never }), 'INVALID_OPTION');
      await expectCode(() => relay.stop({ timeoutMs: Number.NaN }), 'INVALID_OPTION');
      expect(relay.state).toBe('idle');
    });

    it('store, outbox and admin calls', async () => {
      const dialect = db.dialect;
      const executor = db.pool.db;
      await expectCode(
        () => new SqlMessageStore({ dialect: undefined as never, db: executor }),
        'INVALID_OPTION',
      );
      await expectCode(() => new SqlMessageStore({ dialect, db: db.pool.driver as never }), 'INVALID_OPTION');
      await expectCode(
        () => new SqlMessageStore({ dialect, db: executor, limits: { maxPayloadBytes: 0 } }),
        'INVALID_OPTION',
      );
      await expectCode(
        () => new SqlMessageStore({ dialect, db: executor, adminBatchSize: 0 }),
        'INVALID_OPTION',
      );
      await expectCode(() => createOutbox({ dialect: undefined as never }), 'INVALID_OPTION');
      await expectCode(() => createOutbox({ dialect, onAdd: 'wake' as never }), 'INVALID_OPTION');
      await expectCode(() => createOutbox({ dialect, limits: { maxTopicLength: -1 } }), 'INVALID_OPTION');

      const s = db.store;
      await expectCode(() => s.list({ status: 'bogus' as never }), 'INVALID_OPTION');
      await expectCode(() => s.list({ status: 'dead', limit: 0 }), 'INVALID_OPTION');
      await expectCode(() => s.list({ status: 'dead', afterId: 'x' }), 'INVALID_OPTION');
      await expectCode(() => s.get('1 OR 1=1'), 'INVALID_OPTION');
      await expectCode(() => s.requeueDead(undefined as never), 'INVALID_OPTION');
      await expectCode(() => s.requeueDead({} as never), 'INVALID_OPTION');
      await expectCode(() => s.requeueDead({ ids: '1' as never }), 'INVALID_OPTION');
      await expectCode(() => s.requeueDead({ ids: ['1', '1;DROP TABLE x'] }), 'INVALID_OPTION');
      await expectCode(() => s.requeueDead({ all: true, topic: 5 as never }), 'INVALID_OPTION');
      await expectCode(() => s.requeueDead({ all: true, createdBefore: 'now' as never }), 'INVALID_OPTION');
      await expectCode(() => s.purge('pending' as never, { all: true }), 'INVALID_OPTION');
      await expectCode(() => s.purge('sent', { olderThan: 'yesterday' as never }), 'INVALID_OPTION');
      await expectCode(() => s.purge('sent', { olderThan: new Date('nope') }), 'INVALID_OPTION');
      await expectCode(() => s.migrate({ to: 0 }), 'INVALID_OPTION');
      await expectCode(() => dialect.rollback(executor, { to: -1 }), 'INVALID_OPTION');
      await expectCode(() => dialect.rollback(executor, {} as never), 'INVALID_OPTION');
      // Nothing was touched.
      expect((await s.migrate()).applied).toEqual([]);
    });
  });
});
