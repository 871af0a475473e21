import { postgres, SqlMessageStore } from '@troutbox/core';
import { runConformanceSuite, uniqueName } from '@troutbox/core/testing';
import { sql } from 'drizzle-orm';
import { drizzleExecutor } from './index.js';
import { drivers } from './test/databases.js';

// The core conformance suite, through drizzleExecutor, on each driver. The harness opens its
// transactions the drizzle way (db.transaction) and hands the suite an executor bound to tx.
for (const [name, open] of drivers) {
  runConformanceSuite(`drizzle (${name})`, async () => {
    const t = await open();
    const schema = uniqueName('drz');
    const store = new SqlMessageStore({ dialect: postgres({ schema }), db: drizzleExecutor(t.db) });
    await store.migrate();
    return {
      store,
      transaction: (fn) => t.db.transaction((tx) => fn(drizzleExecutor(tx))),
      concurrentTransactions: t.concurrent,
      close: async () => {
        await t.db.execute(sql.raw(`DROP SCHEMA "${schema}" CASCADE`));
        await t.close();
      },
    };
  });
}
