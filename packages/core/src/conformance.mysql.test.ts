import mysqlDriver from 'mysql2/promise';
import { mysql, mysql2Pool, SqlMessageStore } from './index.js';
import { runConformanceSuite, uniqueName } from './testing/index.js';

const url = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';

for (const ordering of ['none', 'key'] as const) {
  runConformanceSuite(`mysql2 on MariaDB/MySQL${ordering === 'key' ? ', ordered by key' : ''}`, async () => {
    const pool = mysqlDriver.createPool({ uri: url, connectionLimit: 4 });
    const database = uniqueName('conf');
    const store = new SqlMessageStore({ dialect: mysql({ database, ordering }), db: mysql2Pool(pool) });
    await store.migrate();
    return {
      store,
      transaction: (fn) => store.db.transaction(fn),
      concurrentTransactions: true,
      close: async () => {
        await pool.query(`DROP DATABASE \`${database}\``);
        await pool.end();
      },
    };
  });
}
