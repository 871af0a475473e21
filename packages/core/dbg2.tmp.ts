import pg from 'pg';
import { pgClient, pgPool, postgres, SqlMessageStore } from './src/index.js';

const pool = new pg.Pool({ connectionString: 'postgres://postgres@127.0.0.1:5432/test' });
const ns = `dbg_${Date.now()}`;
const dialect = postgres({ schema: ns, ordering: 'key' });
const store = new SqlMessageStore({ dialect, db: pgPool(pool) });
await store.migrate();
await store.db.transaction((tx) =>
  store.add(tx, [
    { topic: 't', key: 'k', payload: 1 },
    { topic: 't', key: 'k', payload: 2 },
  ]),
);
// claim only head: limit 1
const first = await store.transaction(async (tx) => {
  const b = await store.claim(tx, 1);
  await store.complete(
    tx,
    b.map((m) => ({ id: m.id, status: 'retry' as const, error: 'x', delayMs: 0 })),
  );
  return b.map((m) => m.id);
});
console.log('first', first);
for (let i = 0; i < 3; i++) {
  const b = await store.transaction(async (tx) => (await store.claim(tx, 1)).map((m) => m.id));
  console.log('next', b);
}
console.log((await pool.query(`SELECT id, seq, status, available_at, now() FROM ${dialect.tableName}`)).rows);
await pool.query(`DROP SCHEMA ${ns} CASCADE`);
await pool.end();
