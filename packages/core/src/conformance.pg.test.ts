import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { pglite, pgPool, postgres, SqlMessageStore } from './index.js';
import { runConformanceSuite, uniqueName } from './testing/index.js';

const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

for (const ordering of ['none', 'key'] as const) {
  runConformanceSuite(`node-postgres${ordering === 'key' ? ', ordered by key' : ''}`, async () => {
    const pool = new pg.Pool({ connectionString: url, max: 4 });
    const schema = uniqueName('conf');
    const store = new SqlMessageStore({ dialect: postgres({ schema, ordering }), db: pgPool(pool) });
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
  });
}

for (const ordering of ['none', 'key'] as const) {
  runConformanceSuite(`PGlite${ordering === 'key' ? ', ordered by key' : ''}`, async () => {
    const db = await PGlite.create();
    const store = new SqlMessageStore({
      dialect: postgres({ schema: 'outbox', table: 'events', ordering }),
      db: pglite(db),
    });
    await store.migrate();
    return {
      store,
      transaction: (fn) => db.transaction((tx) => fn(pglite(tx))),
      concurrentTransactions: false,
      close: () => db.close(),
    };
  });
}
