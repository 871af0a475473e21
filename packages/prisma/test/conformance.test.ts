import { PrismaPg } from '@prisma/adapter-pg';
import { runConformanceSuite, uniqueName } from '@troutbox/core/testing';
import pg from 'pg';
import { outbox, prismaRaw, prismaStore } from '../src/index.js';
import { PrismaClient } from './generated/client/client.js';
import { databaseUrl } from './harness.js';

runConformanceSuite('Prisma 7 + adapter-pg', async () => {
  const schema = uniqueName('pconf');
  const prisma = new PrismaClient({
    adapter: new PrismaPg({ connectionString: databaseUrl, max: 6 }),
  }).$extends(outbox({ schema }));
  // The store runs core's migrator through Prisma interactive transactions.
  const store = prismaStore(prisma, { schema });
  await store.migrate();
  return {
    store,
    transaction: (fn) => prisma.$transaction((tx) => fn(prismaRaw(tx))),
    concurrentTransactions: true,
    close: async () => {
      await prisma.$disconnect();
      const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await pool.end();
    },
  };
});
