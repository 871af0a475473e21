import pg from 'pg';
import { pgPool, postgres, SqlMessageStore } from '../src/index.js';
import { runConformanceSuite, uniqueName } from '../src/testing/index.js';

// The whole MessageStore contract holds on a partitioned table too (hourly partitions, so a run
// near an hour boundary also spans two of them).

const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

for (const ordering of ['none', 'key'] as const) {
  runConformanceSuite(
    `node-postgres, partitioned table${ordering === 'key' ? ', ordered by key' : ''}`,
    async () => {
      const pool = new pg.Pool({ connectionString: url, max: 4 });
      const schema = uniqueName('confpart');
      const store = new SqlMessageStore({
        dialect: postgres({ schema, ordering, partitioned: { interval: 'hour', premake: 2, retention: 1 } }),
        db: pgPool(pool),
      });
      await store.migrate();
      return {
        store,
        transaction: (fn) => store.db.transaction(fn),
        concurrentTransactions: true,
        close: async () => {
          await pool.query(`DROP SCHEMA "${schema}" CASCADE`);
          await pool.end();
        },
      };
    },
  );
}
