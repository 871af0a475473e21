import type { Dialect, Executor, NewMessage, TransactionalExecutor } from '@troutbox/core';
import type {
  DataSource,
  DataSourceOptions,
  EntityManager,
  EntitySubscriberInterface,
  MigrationInterface,
  QueryRunner,
  Repository,
} from 'typeorm';
import { describe, expectTypeOf, it } from 'vitest';
import {
  addMessage,
  createOutboxMigrations,
  type DataSourceLike,
  dialectFor,
  type EntityManagerLike,
  entityManagerExecutor,
  type HasOutboxMessages,
  hasOutboxMessages,
  isOutboxSubscriber,
  OutboxMessage,
  type OutboxMessageRow,
  type OutboxSubscriber,
  outboxMessageEntity,
  outboxSubscriber,
  type QueryRunnerLike,
  queryRunnerExecutor,
  type TransactionIsolationLevel,
  typeormExecutor,
} from './index.js';

// Type tests: checked by `tsc` (the package typecheck), run as no-ops by vitest.
describe('public types', () => {
  it('takes TypeORM’s own handles where it asks for structural ones', () => {
    expectTypeOf<DataSource>().toExtend<DataSourceLike>();
    expectTypeOf<EntityManager>().toExtend<EntityManagerLike>();
    expectTypeOf<QueryRunner>().toExtend<QueryRunnerLike>();
  });

  it('executors', () => {
    expectTypeOf(typeormExecutor).parameter(0).toEqualTypeOf<DataSourceLike>();
    expectTypeOf(typeormExecutor).returns.toEqualTypeOf<TransactionalExecutor>();
    expectTypeOf(entityManagerExecutor).parameter(0).toEqualTypeOf<EntityManagerLike>();
    expectTypeOf(entityManagerExecutor).returns.toEqualTypeOf<Executor>();
    expectTypeOf(queryRunnerExecutor).returns.toEqualTypeOf<Executor>();
  });

  it('addMessage takes a manager and one message or many', () => {
    expectTypeOf(addMessage).toBeCallableWith({} as EntityManager, { topic: 't', payload: { a: 1 } });
    expectTypeOf(addMessage).toBeCallableWith({} as EntityManager, [] as NewMessage[], { schema: 'app' });
    expectTypeOf(addMessage).returns.resolves.toBeNumber();
    // Never called: only the compiler looks at it.
    const wrong = (manager: EntityManager) =>
      // @ts-expect-error a payload must be JSON or bytes
      addMessage(manager, { topic: 't', payload: () => 1 });
    expectTypeOf(wrong).returns.resolves.toBeNumber();
  });

  it('the subscriber is a TypeORM subscriber, and its class fits the data source options', () => {
    expectTypeOf<OutboxSubscriber>().toExtend<EntitySubscriberInterface>();
    const Subscriber = outboxSubscriber({ schema: 'app' });
    expectTypeOf(new Subscriber()).toEqualTypeOf<OutboxSubscriber>();
    const options = { type: 'postgres', subscribers: [Subscriber] } satisfies DataSourceOptions;
    expectTypeOf(options).toExtend<DataSourceOptions>();
    expectTypeOf(isOutboxSubscriber).guards.toEqualTypeOf<OutboxSubscriber>();
    expectTypeOf(hasOutboxMessages).guards.toEqualTypeOf<HasOutboxMessages>();
  });

  it('migrations are TypeORM migration classes', () => {
    const [First] = createOutboxMigrations({ schema: 'app' });
    expectTypeOf(new First!()).toExtend<MigrationInterface>();
    const options = { type: 'postgres', migrations: createOutboxMigrations() } satisfies DataSourceOptions;
    expectTypeOf(options).toExtend<DataSourceOptions>();
  });

  it('the entity loads typed rows', () => {
    expectTypeOf(outboxMessageEntity).returns.instance.toEqualTypeOf<OutboxMessageRow>();
    expectTypeOf({} as Repository<InstanceType<typeof OutboxMessage>>).toExtend<
      Repository<OutboxMessageRow>
    >();
    expectTypeOf<OutboxMessageRow['id']>().toEqualTypeOf<string>();
    expectTypeOf<OutboxMessageRow['payload']>().toEqualTypeOf<Buffer>();
    const options = { type: 'postgres', entities: [OutboxMessage] } satisfies DataSourceOptions;
    expectTypeOf(options).toExtend<DataSourceOptions>();
  });

  it('dialectFor returns a core dialect', () => {
    expectTypeOf(dialectFor).returns.toEqualTypeOf<Dialect>();
    expectTypeOf(dialectFor).parameter(0).toEqualTypeOf<string>();
  });

  it('the same helpers fit a MySQL or MariaDB data source', () => {
    const Row = outboxMessageEntity({ type: 'mysql', database: 'shop', table: 'outbox' });
    expectTypeOf(new Row()).toEqualTypeOf<OutboxMessageRow>();
    const options = {
      type: 'mysql',
      timezone: 'Z',
      entities: [Row],
      subscribers: [outboxSubscriber({ database: 'shop', table: 'outbox' })],
      migrations: createOutboxMigrations({ type: 'mysql', database: 'shop', table: 'outbox' }),
    } satisfies DataSourceOptions;
    expectTypeOf(options).toExtend<DataSourceOptions>();
    const mariadb = {
      type: 'mariadb',
      migrations: createOutboxMigrations({ type: 'mariadb' }),
    } satisfies DataSourceOptions;
    expectTypeOf(mariadb).toExtend<DataSourceOptions>();
    // The isolation levels the executor hands TypeORM are TypeORM's own.
    expectTypeOf<TransactionIsolationLevel>().toExtend<Parameters<QueryRunner['startTransaction']>[0]>();
  });
});
