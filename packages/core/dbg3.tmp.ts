import mysqlDriver from 'mysql2/promise';
import { mysql, mysql2Pool, SqlMessageStore } from './src/index.js';

const pool = mysqlDriver.createPool({ uri: 'mysql://root@127.0.0.1:3306/test' });
const ns = `dbg_${Date.now()}`;
const dialect = mysql({ database: ns, ordering: 'key' });
const store = new SqlMessageStore({ dialect, db: mysql2Pool(pool) });
await store.migrate();
for (let i = 0; i < 20; i++)
  await store.db.transaction((tx) =>
    store.add(
      tx,
      Array.from({ length: 500 }, (_, j) => ({ topic: 't', key: `k${(i * 500 + j) % 200}`, payload: 1 })),
    ),
  );
await pool.query(`ANALYZE TABLE ${dialect.tableName}`);
const { sql, params } = dialect.claim(100);
const [rows] = await pool.query(`EXPLAIN ${sql}`, params as any);
console.log(rows);
await pool.query(`DROP DATABASE ${ns}`);
await pool.end();
