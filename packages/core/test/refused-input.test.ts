// Rule: input the database would refuse, or silently change, is a typed INVALID_MESSAGE before
// any SQL, on every database: NUL and lone surrogates in topic, key and headers, a header named
// __proto__, an availableAt outside the column's range. The caller's transaction is untouched:
// it goes on and commits what it wrote before and after.
import { PGlite } from '@electric-sql/pglite';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createOutbox,
  isOutboxError,
  type NewMessage,
  pglite,
  postgres,
  SqlMessageStore,
} from '../src/index.js';
import { uniqueName } from '../src/testing/index.js';
import { createTestOutbox, databases, type TestOutbox } from './helpers.js';

/** What each table can store: timestamptz from 4713 BC; DATETIME(6) from 1000 to 9999. */
const edges = {
  postgres: { min: Date.UTC(-4713, 10, 24), max: 8.64e15 },
  mysql: { min: Date.UTC(1000, 0, 1), max: Date.UTC(9999, 11, 31, 23, 59, 59, 999) },
};

const base = { topic: 't', payload: 1 };
const textCases: [string, NewMessage, string][] = [
  ['a NUL in the topic', { ...base, topic: 'orders\u0000' }, 'topic'],
  ['a NUL in the key', { ...base, key: 'k\u00001' }, 'key'],
  ['a NUL in a header name', { ...base, headers: { 'x-\u0000': 'v' } }, 'headers'],
  ['a NUL in a header value', { ...base, headers: { h: 'v\u0000' } }, 'headers.h'],
  ['a lone high surrogate in the topic', { ...base, topic: 'orders\uD83D' }, 'topic'],
  ['a lone low surrogate in the key', { ...base, key: '\uDE00k' }, 'key'],
  ['a lone surrogate in a header name', { ...base, headers: { 'x-\uD83D': 'v' } }, 'headers'],
  ['a lone surrogate in a header value', { ...base, headers: { h: 'cut \uD83D' } }, 'headers.h'],
  ['a header named __proto__', { ...base, headers: JSON.parse('{"__proto__":"x"}') }, 'headers.__proto__'],
];

async function refusal(promise: Promise<unknown>): Promise<{ field?: string; message: string }> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isOutboxError(error, 'INVALID_MESSAGE'), `expected INVALID_MESSAGE, got ${String(error)}`).toBe(
    true,
  );
  return { field: (error as { context: { field?: string } }).context.field, message: String(error) };
}

describe.each(databases)('on $label', (database) => {
  let db: TestOutbox;
  beforeAll(async () => {
    db = await createTestOutbox(database, { prefix: 'refuse' });
  });
  afterEach(async () => {
    await db?.sql('DELETE FROM $table');
  });
  afterAll(async () => {
    await db?.close();
  });

  const { min, max } = edges[database.name];
  const cases = [
    ...textCases,
    ["availableAt before the column's range", { ...base, availableAt: new Date(min - 1) }, 'availableAt'] as [
      string,
      NewMessage,
      string,
    ],
    // A Date cannot pass PostgreSQL's maximum; an invalid Date is refused as such elsewhere.
    ...(max < 8.64e15
      ? [
          [
            "availableAt after the column's range",
            { ...base, availableAt: new Date(max + 1) },
            'availableAt',
          ] as [string, NewMessage, string],
        ]
      : []),
  ];

  it.each(cases)('%s: INVALID_MESSAGE before any SQL, and the transaction goes on', async (_, bad, field) => {
    const outbox = createOutbox({ dialect: db.dialect });
    const statements: string[] = [];
    const tx = await db.pool.begin((sql) => statements.push(sql));
    try {
      await outbox.add(tx.executor, { topic: 'before', payload: 1 });
      const seen = statements.length;
      const viaOutbox = await refusal(outbox.add(tx.executor, [{ topic: 'valid', payload: 2 }, bad]));
      expect(viaOutbox.field).toBe(`[1].${field}`);
      const viaStore = await refusal(db.store.add(tx.executor, bad));
      expect(viaStore.field).toBe(field);
      expect(statements.length).toBe(seen);
      await outbox.add(tx.executor, { topic: 'after', payload: 3 });
      await tx.commit();
    } catch (error) {
      await tx.rollback().catch(() => {});
      throw error;
    }
    const rows = await db.sql<{ topic: string }>('SELECT topic FROM $table ORDER BY id');
    expect(rows.map((r) => r.topic)).toEqual(['before', 'after']);
  });

  it("the dialect's timestampRange is what the column holds: both ends are stored exactly", async () => {
    expect(db.dialect.timestampRange.min.getTime()).toBe(min);
    expect(db.dialect.timestampRange.max.getTime()).toBe(max);
    const store = db.store;
    await store.db.transaction((tx) =>
      store.add(tx, [
        { topic: 'first', payload: 1, availableAt: new Date(min) },
        { topic: 'last', payload: 2, availableAt: new Date(max) },
      ]),
    );
    const stored = await store.list({ status: 'pending' });
    const at = Object.fromEntries(stored.map((m) => [m.topic, m.availableAt.getTime()]));
    expect(at).toEqual({ first: min, last: max });
  });

  it('text that needs no change is accepted as written: surrogate pairs, other control characters', async () => {
    const message = {
      topic: 'orders.🐟',
      key: 'k\u0001🐟',
      payload: { s: 'a\u0000b\uD83D' },
      headers: { 'x-🐟': 'tab\there 🐟', constructor: 'c' },
    };
    await db.store.db.transaction((tx) => db.store.add(tx, message));
    const [stored] = await db.store.list({ status: 'pending' });
    expect(stored).toMatchObject({ topic: message.topic, key: message.key, headers: message.headers });
    // JSON payloads are bytes: NUL and lone surrogates arrive escaped, as JSON.stringify wrote them.
    expect(JSON.parse(new TextDecoder().decode(stored!.payload))).toEqual(message.payload);
  });
});

describe('on PGlite', () => {
  const instance = new PGlite();
  afterAll(async () => {
    await instance.close();
  });

  it("the dialect's timestampRange reaches the column through PGlite too (which sends a Date as ISO text)", async () => {
    const store = new SqlMessageStore({
      dialect: postgres({ schema: uniqueName('refuse') }),
      db: pglite(instance),
    });
    await store.migrate();
    const { min, max } = edges.postgres;
    await store.db.transaction((tx) =>
      store.add(tx, [
        { topic: 'first', payload: 1, availableAt: new Date(min) },
        { topic: 'year 1 BC', payload: 2, availableAt: new Date(Date.UTC(0, 5, 1)) },
        { topic: 'year 12000', payload: 3, availableAt: new Date(Date.UTC(12000, 0, 1)) },
        { topic: 'last', payload: 4, availableAt: new Date(max) },
      ]),
    );
    // Read as epoch ms: PGlite's own parser makes an Invalid Date of BC and six-digit years.
    const { rows } = await store.db.query<{ topic: string; ms: number }>(
      `SELECT topic, (extract(epoch FROM available_at) * 1000)::float8 AS ms FROM ${store.dialect.tableName}`,
    );
    expect(Object.fromEntries(rows.map((r) => [r.topic, r.ms]))).toEqual({
      first: min,
      'year 1 BC': Date.UTC(0, 5, 1),
      'year 12000': Date.UTC(12000, 0, 1),
      last: max,
    });
    await refusal(store.add(pglite(instance), { ...base, availableAt: new Date(min - 1) }));
  });
});
