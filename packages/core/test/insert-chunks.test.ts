import mysqlDriver from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOutbox, encodeMessages, insertChunks, mysql, mysql2Pool, postgres } from '../src/index.js';
import { uniqueName } from '../src/testing/index.js';

describe('insertChunks', () => {
  const bytes = (n: number) => ({ topic: 't', payload: new Uint8Array(n) });

  it('keeps the common case in one statement', () => {
    const encoded = encodeMessages([bytes(10), bytes(10)]);
    expect(insertChunks(postgres(), encoded)).toEqual([encoded]);
    expect(insertChunks(mysql(), encoded)).toEqual([encoded]);
  });

  it('splits by rows and by bytes, in order, never leaving a message out', () => {
    const dialect = { ...mysql(), maxRowsPerInsert: 3, maxBytesPerInsert: 100 };
    const encoded = encodeMessages([
      bytes(40),
      bytes(40),
      bytes(40),
      bytes(500),
      bytes(1),
      bytes(1),
      bytes(1),
      bytes(1),
    ]);
    const chunks = insertChunks(dialect, encoded);
    expect(chunks.map((c) => c.map((m) => m.payload.byteLength))).toEqual([
      [40, 40],
      [40],
      [500],
      [1, 1, 1],
      [1],
    ]);
    expect(chunks.flat()).toEqual(encoded);
  });
});

describe('MariaDB: many large payloads in one add', () => {
  const url = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
  const database = uniqueName('chunks');
  const dialect = mysql({ database });
  let pool: mysqlDriver.Pool;
  beforeAll(async () => {
    pool = mysqlDriver.createPool({ uri: url, connectionLimit: 2 });
    await dialect.migrate(mysql2Pool(pool));
  });
  afterAll(async () => {
    await pool.query(`DROP DATABASE \`${database}\``);
    await pool.end();
  });

  it('ten 1 MB messages fit under max_allowed_packet by splitting the insert', async () => {
    const outbox = createOutbox({ dialect, autocommit: true });
    const messages = Array.from({ length: 10 }, (_, i) => ({
      topic: 'big',
      payload: new Uint8Array(1_000_000).fill(i),
    }));
    expect(await outbox.add(mysql2Pool(pool), messages)).toBe(10);
    const [rows] = await pool.query(
      `SELECT LENGTH(payload) AS n, ORD(payload) AS first FROM ${dialect.tableName} ORDER BY id`,
    );
    expect((rows as { n: number; first: number }[]).map((r) => [Number(r.n), Number(r.first)])).toEqual(
      messages.map((_, i) => [1_000_000, i]),
    );
  });
});
