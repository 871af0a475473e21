import { postgres, SqlMessageStore } from '@troutbox/core';
import { runConformanceSuite } from '@troutbox/core/testing';
import { entityManagerExecutor, typeormExecutor } from './executor.js';
import { outboxSubscriber } from './subscriber.js';
import { testDataSource } from './test-support.js';

// The relay and admin API on TypeORM's pool; producers in TypeORM's own transactions.
runConformanceSuite('TypeORM DataSource', async () => {
  const { dataSource, schema, close } = await testDataSource();
  const store = new SqlMessageStore({ dialect: postgres({ schema }), db: typeormExecutor(dataSource) });
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
runConformanceSuite('TypeORM DataSource with OutboxSubscriber', async () => {
  const { dataSource, schema, close } = await testDataSource({
    subscribers: [outboxSubscriber({ schema: 'ignored_here', table: 'not_used' })],
  });
  const store = new SqlMessageStore({
    dialect: postgres({ schema, table: 'events' }),
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
