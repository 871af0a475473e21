import { SqlMessageStore } from '@troutbox/core';
import { runConformanceSuite } from '@troutbox/core/testing';
import { entityManagerExecutor, typeormExecutor } from './executor.js';
import { outboxSubscriber } from './subscriber.js';
import { databases, outboxDialect, testDataSource } from './test-support.js';

for (const db of databases) {
  // The relay and admin API on TypeORM's pool; producers in TypeORM's own transactions.
  runConformanceSuite(`TypeORM DataSource on ${db.name}`, async () => {
    const { dataSource, ns, close } = await testDataSource(db);
    const store = new SqlMessageStore({ dialect: outboxDialect(db, ns), db: typeormExecutor(dataSource) });
    await store.migrate();
    return {
      store,
      transaction: (fn) => dataSource.transaction((manager) => fn(entityManagerExecutor(manager))),
      concurrentTransactions: true,
      close,
    };
  });

  // The same with the subscriber registered: its transaction bookkeeping must not get in the way
  // of transactions that carry no entity events (the relay's).
  runConformanceSuite(`TypeORM DataSource with OutboxSubscriber on ${db.name}`, async () => {
    const { dataSource, ns, close } = await testDataSource(db, {
      subscribers: [outboxSubscriber({ table: 'not_used' })],
    });
    const store = new SqlMessageStore({
      dialect: outboxDialect(db, ns, 'events'),
      db: typeormExecutor(dataSource),
    });
    await store.migrate();
    return {
      store,
      transaction: (fn) => dataSource.transaction((manager) => fn(entityManagerExecutor(manager))),
      concurrentTransactions: true,
      close,
    };
  });
}
