import { runConformanceSuite } from '@troutbox/core/testing';
import { describe } from 'vitest';
import { prismaRaw, prismaStore } from '../src/index.js';
import { databases } from './databases.js';

// Core's store contract through Prisma alone: the store runs core's migrator, claims and
// completes through Prisma interactive transactions, and the producer writes through a `tx`.
describe.each(databases)('$label', (database) => {
  runConformanceSuite(`Prisma 7 + ${database.label}`, async () => {
    const isolated = await database.createIsolated('pconf');
    const prisma = database.makeClient(isolated, { connections: 6 });
    const store = prismaStore(prisma, database.tableOptions(isolated));
    await store.migrate();
    return {
      store,
      transaction: (fn) => prisma.$transaction((tx) => fn(prismaRaw(tx))),
      concurrentTransactions: true,
      close: async () => {
        await prisma.$disconnect();
        await database.dropIsolated(isolated);
      },
    };
  });
});
