import pg from 'pg';
import { pgClient, pgPool, postgres, SqlMessageStore } from './src/index.js';

const pool = new pg.Pool({ connectionString: 'postgres://postgres@127.0.0.1:5432/test' });
const ns = `dbg_${Date.now()}`;
const dialect = postgres({ schema: ns, ordering: 'key' });
const store = new SqlMessageStore({ dialect, db: pgPool(pool) });
await store.migrate();
await pool.query(`ALTER TABLE ${dialect.tableName} ALTER COLUMN id SET CACHE 10`);
const low = await pool.connect();
const high = await pool.connect();
await low.query('BEGIN');
await high.query('BEGIN');
await store.add(pgClient(low), { topic: 'warm', payload: 1 });
await store.add(pgClient(high), { topic: 'warm', payload: 2 });
await store.add(pgClient(high), { topic: 't', key: 'k', payload: { u: 1 } });
await high.query('COMMIT');
await store.add(pgClient(low), { topic: 't', key: 'k', payload: { u: 2 } });
await low.query('COMMIT');
console.log((await pool.query(`SELECT id, key, seq, topic FROM ${dialect.tableName} ORDER BY id`)).rows);
// hot key scenario
await store.db.transaction((tx) =>
  store.add(
    tx,
    Array.from({ length: 300 }, (_, i) => ({ topic: 'hot', key: 'hot', payload: { u: i } })),
  ),
);
await store.db.transaction((tx) =>
  store.add(
    tx,
    Array.from({ length: 30 }, (_, i) => ({ topic: 'cold', key: `c${i}`, payload: { u: 1000 + i } })),
  ),
);
const a = await pool.connect();
await a.query('BEGIN');
const ca = await store.claim(pgClient(a), 100);
console.log(
  'A',
  ca.length,
  ca.slice(0, 3).map((m) => m.key),
);
const b = await pool.connect();
await b.query('BEGIN');
const cb = await store.claim(pgClient(b), 100);
console.log(
  'B',
  cb.length,
  cb.slice(0, 3).map((m) => m.key),
);
await a.query('ROLLBACK');
await b.query('ROLLBACK');
a.release();
b.release();
low.release();
high.release();
await pool.query(`DROP SCHEMA ${ns} CASCADE`);
await pool.end();
