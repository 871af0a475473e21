import { PGlite } from '@electric-sql/pglite';
import { postgres, SqlMessageStore } from '@troutbox/core';
import { runConformanceSuite, uniqueName } from '@troutbox/core/testing';
import { CamelCasePlugin, Kysely, PGliteDialect, PostgresDialect } from 'kysely';
import pg from 'pg';
import { kyselyExecutor } from './index.js';

const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

runConformanceSuite('kysely (PostgresDialect)', async () => {
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  // A CamelCasePlugin renames result columns; the executor must not let it touch core's rows.
  const db = new Kysely<any>({ dialect: new PostgresDialect({ pool }), plugins: [new CamelCasePlugin()] });
  const schema = uniqueName('kyconf');
  const store = new SqlMessageStore({ dialect: postgres({ schema }), db: kyselyExecutor(db) });
  await store.migrate();
  return {
    store,
    transaction: (fn) => db.transaction().execute((trx) => fn(kyselyExecutor(trx))),
    concurrentTransactions: true,
    close: async () => {
      await db.schema.dropSchema(schema).cascade().execute();
      await db.destroy();
    },
  };
});

runConformanceSuite('kysely (PostgresDialect, controlled transactions)', async () => {
  const db = new Kysely<any>({
    dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 4 }) }),
  });
  const schema = uniqueName('kyctl');
  const store = new SqlMessageStore({ dialect: postgres({ schema }), db: kyselyExecutor(db) });
  await store.migrate();
  return {
    store,
    async transaction(fn) {
      const trx = await db.startTransaction().execute();
      try {
        const result = await fn(kyselyExecutor(trx));
        await trx.commit().execute();
        return result;
      } catch (error) {
        await trx.rollback().execute();
        throw error;
      }
    },
    concurrentTransactions: true,
    close: async () => {
      await db.schema.dropSchema(schema).cascade().execute();
      await db.destroy();
    },
  };
});

runConformanceSuite('kysely (PGliteDialect)', async () => {
  const db = new Kysely<any>({ dialect: new PGliteDialect({ pglite: await PGlite.create() }) });
  const store = new SqlMessageStore({
    dialect: postgres({ schema: 'outbox', table: 'events' }),
    db: kyselyExecutor(db),
  });
  await store.migrate();
  return {
    store,
    transaction: (fn) => db.transaction().execute((trx) => fn(kyselyExecutor(trx))),
    concurrentTransactions: false,
    close: () => db.destroy(),
  };
});
