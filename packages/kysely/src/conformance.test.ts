import { PGlite } from '@electric-sql/pglite';
import type { Executor } from '@troutbox/core';
import { type ConformanceHarness, runConformanceSuite } from '@troutbox/core/testing';
import { CamelCasePlugin, Kysely, PGliteDialect } from 'kysely';
import { databases } from './databases.test-support.js';
import { kyselyExecutor, kyselyOutbox } from './index.js';

for (const database of databases) {
  for (const style of ['transaction().execute', 'startTransaction (controlled)'] as const) {
    runConformanceSuite(`kysely on ${database.label}, ${style}`, async (): Promise<ConformanceHarness> => {
      const t = await database.open('kyconf');
      // A CamelCasePlugin renames result columns; the executor must not let it touch core's rows.
      const db = t.db.withPlugin(new CamelCasePlugin());
      const store = kyselyOutbox({ dialect: database.dialect, schema: t.schema }).store(db);
      await store.migrate();
      async function controlled<T>(fn: (tx: Executor) => Promise<T>): Promise<T> {
        const trx = await db.startTransaction().execute();
        try {
          const result = await fn(kyselyExecutor(trx));
          await trx.commit().execute();
          return result;
        } catch (error) {
          await trx.rollback().execute();
          throw error;
        }
      }
      return {
        store,
        transaction:
          style === 'transaction().execute'
            ? (fn) => db.transaction().execute((trx) => fn(kyselyExecutor(trx)))
            : controlled,
        concurrentTransactions: true,
        close: () => t.close(),
      };
    });
  }
}

runConformanceSuite('kysely on PGlite (PGliteDialect)', async () => {
  const db = new Kysely<any>({ dialect: new PGliteDialect({ pglite: await PGlite.create() }) });
  const store = kyselyOutbox({ schema: 'outbox', table: 'events' }).store(db);
  await store.migrate();
  return {
    store,
    transaction: (fn) => db.transaction().execute((trx) => fn(kyselyExecutor(trx))),
    concurrentTransactions: false,
    close: () => db.destroy(),
  };
});
