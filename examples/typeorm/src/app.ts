import { createRelay, type NewMessage, payloadJson, type Sender, SqlMessageStore } from '@troutbox/core';
import { exampleSender } from '@troutbox/example-support';
import {
  addMessage,
  createOutboxMigrations,
  dialectFor,
  type HasOutboxMessages,
  outboxSubscriber,
  typeormExecutor,
} from '@troutbox/typeorm';
import {
  DataSource,
  type DataSourceOptions,
  EntitySchema,
  type MigrationInterface,
  type QueryRunner,
  Table,
} from 'typeorm';

/** A domain entity that records what happened to it; the subscriber writes it to the outbox. */
export class Order implements HasOutboxMessages {
  declare id: number;
  declare customer: string;
  declare total: number;
  declare status: 'placed' | 'paid';
  #events: NewMessage[] = [];

  static place(customer: string, total: number): Order {
    const order = new Order();
    order.customer = customer;
    order.total = total;
    order.status = 'placed';
    // The id is not known before the insert; the payload carries the business data instead.
    order.#events.push({ topic: 'orders', key: customer, payload: { type: 'OrderPlaced', customer, total } });
    return order;
  }

  pay(): void {
    this.status = 'paid';
    this.#events.push({ topic: 'orders', key: this.customer, payload: { type: 'OrderPaid', id: this.id } });
  }

  pullOutboxMessages(): NewMessage[] {
    return this.#events.splice(0);
  }
}

// Mapped with an EntitySchema so the example needs no decorators.
const OrderEntity = new EntitySchema<Order>({
  name: 'Order',
  target: Order,
  tableName: 'orders',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    customer: { type: 'text' },
    total: { type: 'integer' },
    status: { type: 'text' },
  },
});

class CreateOrders1767225700000 implements MigrationInterface {
  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: 'orders',
        columns: [
          {
            name: 'id',
            type: 'integer',
            isPrimary: true,
            isGenerated: true,
            generationStrategy: 'increment',
          },
          { name: 'customer', type: 'text' },
          { name: 'total', type: 'integer' },
          { name: 'status', type: 'text' },
        ],
      }),
      true,
    );
  }
  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('orders', true);
  }
}

export interface ExampleOptions {
  /** `postgres://…`, or `mysql://…` / `mariadb://…` for MySQL or MariaDB. */
  databaseUrl: string;
  /** Where the example's tables go: a schema on PostgreSQL, a database on MySQL (created if missing). */
  schema: string;
  log?: (line: string) => void;
  /** Give up waiting for delivery after this long. */
  timeoutMs?: number;
  /** Where to deliver. @defaultValue RabbitMQ when `AMQP_URL` is set, the console otherwise */
  sender?: Sender;
}

export interface ExampleSummary {
  committed: number;
  delivered: string[];
  rolledBackDelivered: number;
}

/**
 * Where the example runs, from the URL: the one place it looks at which database that is.
 * PostgreSQL keeps the example's tables in a schema; MySQL and MariaDB in a database.
 */
function databaseTarget(url: string, schema: string) {
  const mysqlFamily = /^(mysql|mariadb):\/\//.exec(url);
  if (mysqlFamily) {
    const type = mysqlFamily[1] as 'mysql' | 'mariadb';
    // TypeORM lets the url's database win over a `database` option: name it in the url.
    const inSchema = new URL(url);
    inSchema.pathname = `/${schema}`;
    return {
      type,
      // Times in the outbox are UTC; timezone 'Z' reads them as such through entities.
      dataSource: { type, url: inSchema.toString(), timezone: 'Z' } as const,
      // The outbox table goes into the connection's database.
      outbox: {},
      create: (queryRunner: QueryRunner) => queryRunner.createDatabase(schema, true),
      server: { type, url } as const,
    };
  }
  return {
    type: 'postgres' as const,
    dataSource: { type: 'postgres', url, schema } as const,
    outbox: { schema },
    create: (queryRunner: QueryRunner) => queryRunner.createSchema(schema, true),
    server: { type: 'postgres', url } as const,
  };
}

/** Run the example once: migrate, write orders with events, deliver them, stop. */
export async function runExample(options: ExampleOptions): Promise<ExampleSummary> {
  const log = options.log ?? console.log;
  const target = databaseTarget(options.databaseUrl, options.schema);

  // TypeORM keeps its migrations table in the data source's schema (database): create that first.
  const server = new DataSource(target.server);
  await server.initialize();
  try {
    const queryRunner = server.createQueryRunner();
    await target.create(queryRunner);
    await queryRunner.release();
  } finally {
    await server.destroy();
  }

  let wake = () => {};
  const dataSource = new DataSource({
    ...target.dataSource,
    entities: [OrderEntity],
    // Messages of saved orders are written in the transaction of the save; after each commit
    // the relay below is woken instead of waiting for its next poll.
    subscribers: [outboxSubscriber({ ...target.outbox, onCommit: () => wake() })],
    migrations: [
      ...createOutboxMigrations({ type: target.type, ...target.outbox }),
      CreateOrders1767225700000,
    ],
  } satisfies DataSourceOptions);
  await dataSource.initialize();
  try {
    const ran = await dataSource.runMigrations();
    log(`migrations: ${ran.length ? ran.map((m) => m.name).join(', ') : 'up to date'}`);

    // The relay runs on TypeORM's own pool.
    const delivered: string[] = [];
    const { sender, describe } = options.sender
      ? { sender: options.sender, describe: options.sender.name ?? 'the given sender' }
      : exampleSender({ log: () => {} });
    log(`delivering to ${describe}`);
    // The same dialect the subscriber writes with: PostgreSQL or MySQL, from the data source type.
    const store = new SqlMessageStore({
      dialect: dialectFor(target.type, target.outbox),
      db: typeormExecutor(dataSource),
    });
    const relay = createRelay({ store, sender, pollIntervalMs: 200, closeSender: true });
    relay.on('sent', ({ messages }) => {
      for (const m of messages) {
        const line = `  → ${m.topic} [${m.key ?? '-'}] #${m.id} ${JSON.stringify(payloadJson(m))}`;
        delivered.push(line);
        log(line);
      }
    });
    wake = () => relay.wake();
    await relay.start();

    log('placing orders…');
    // 1. save() alone: TypeORM opens a transaction, the subscriber writes the event in it.
    const ada = await dataSource.manager.save(Order.place('ada', 120));
    // 2. several saves in one transaction: one outbox insert, just before COMMIT.
    await dataSource.transaction(async (manager) => {
      const grace = await manager.save(Order.place('grace', 75));
      grace.pay();
      await manager.save(grace);
      ada.pay();
      await manager.save(ada);
      // 3. an explicit message in the same transaction.
      await addMessage(manager, { topic: 'audit', payload: { type: 'BatchClosed', orders: 2 } });
    });
    // 4. a transaction that fails: neither its order nor its event exists afterwards.
    await dataSource
      .transaction(async (manager) => {
        await manager.save(Order.place('mallory', 999_999));
        throw new Error('card declined');
      })
      .catch((error: Error) => log(`rolled back: ${error.message}`));

    const committed = 4 + 1;
    const deadline = Date.now() + (options.timeoutMs ?? 10_000);
    while (delivered.length < committed && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await relay.stop();
    const rolledBackDelivered = delivered.filter((line) => line.includes('mallory')).length;
    log(
      `delivered ${delivered.length} of ${committed} committed messages; rolled back and delivered: ${rolledBackDelivered}`,
    );
    return { committed, delivered, rolledBackDelivered };
  } finally {
    await dataSource.destroy();
  }
}
