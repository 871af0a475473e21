import { SqlMessageStore } from '@troutbox/core';
import { runConformanceSuite } from '@troutbox/core/testing';
import { drizzleExecutor } from './index.js';
import { drivers } from './test/databases.js';

// The core conformance suite, through drizzleExecutor, on each driver and database. The harness
// opens its transactions the drizzle way (db.transaction) and hands the suite an executor bound
// to tx; the relay's own transactions go through drizzleExecutor's, at core's isolation level.
for (const [name, open] of drivers) {
  runConformanceSuite(`drizzle (${name})`, async () => {
    const t = await open();
    const namespace = await t.namespace('drz');
    const store = new SqlMessageStore({ dialect: t.dialect(namespace), db: drizzleExecutor(t.db) });
    await store.migrate();
    return {
      store,
      transaction: (fn) => t.db.transaction((tx: unknown) => fn(drizzleExecutor(tx as never))),
      concurrentTransactions: t.concurrent,
      close: () => t.close(),
    };
  });
}
