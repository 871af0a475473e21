import { randomUUID } from 'node:crypto';
import { createRelay, type OutboxMessage, type Sender } from '@troutbox/core';
import { exampleSender } from '@troutbox/example-support';
import { kyselyOutbox, outboxMigratorTables } from '@troutbox/kysely';
import { Kysely, sql } from 'kysely';
import { type Migration, Migrator } from 'kysely/migration';
import { databaseTarget } from './database.js';

/** The application's tables, as Kysely sees them. */
export interface Database {
  orders: {
    /** Made by the app (a UUID): MySQL has no `RETURNING` to hand back a generated one. */
    id: string;
    customer: string;
    item: string;
    quantity: number;
  };
}

/**
 * The application's own migrations, next to which the outbox's run under their own history.
 * Written once for both databases: these column types mean the same on PostgreSQL and MySQL.
 */
const shopMigrations = (schema: string): Record<string, Migration> => ({
  '2025_01_01_orders': {
    up: (db) =>
      db.schema
        .withSchema(schema)
        .createTable('orders')
        .ifNotExists()
        .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
        .addColumn('customer', 'varchar(255)', (c) => c.notNull())
        .addColumn('item', 'varchar(255)', (c) => c.notNull())
        .addColumn('quantity', 'integer', (c) => c.notNull().check(sql`quantity > 0`))
        .execute(),
    down: (db) => db.schema.withSchema(schema).dropTable('orders').execute(),
  },
});

export interface ShopOptions {
  /** `postgres://…`, or `mysql://…` / `mariadb://…` for MySQL 8.0+ or MariaDB 10.6+. */
  databaseUrl: string;
  /**
   * Schema of the shop's tables, the outbox and both migration histories: on MySQL, a database
   * (created on the URL's server if missing; the URL's own database is only where it connects).
   */
  schema: string;
  log?: (line: string) => void;
  /** Where to deliver. @defaultValue RabbitMQ when `AMQP_URL` is set, the console otherwise */
  sender?: Sender;
}

export interface ShopSummary {
  placed: number;
  refused: number;
  delivered: number;
  /** Messages delivered for an order that is not in the database (must be 0). */
  deliveredWithoutOrder: number;
}

class OutOfStock extends Error {}

/**
 * Migrate, place orders (each with its `OrderPlaced` message in the same Kysely transaction),
 * refuse one whose transaction rolls back, and let a relay deliver what committed.
 */
export async function runShop(options: ShopOptions): Promise<ShopSummary> {
  const log = options.log ?? (() => {});
  const { schema } = options;
  const target = databaseTarget(options.databaseUrl);
  const db = new Kysely<Database>({ dialect: target.kysely });
  log(`on ${target.label}, ${target.outbox === 'mysql' ? 'database' : 'schema'} ${schema}`);
  try {
    // 1. Migrations: the shop's with Kysely's Migrator, the outbox's with its own history table.
    const migrators = [
      new Migrator({
        db,
        provider: { getMigrations: async () => shopMigrations(schema) },
        migrationTableSchema: schema,
      }),
      new Migrator({
        db,
        provider: kyselyOutbox({ dialect: target.outbox, schema }).migrations(),
        ...outboxMigratorTables,
        migrationTableSchema: schema,
      }),
    ];
    await db.schema.createSchema(schema).ifNotExists().execute();
    for (const migrator of migrators) {
      const { error } = await migrator.migrateToLatest();
      if (error) throw error;
    }

    // 2. The relay, woken in-process after each write instead of waiting for its next poll.
    const { sender, describe } = options.sender
      ? { sender: options.sender, describe: options.sender.name ?? 'the given sender' }
      : exampleSender({ log });
    log(`delivering to ${describe}`);
    const delivered: OutboxMessage[] = [];
    const outbox = kyselyOutbox({ dialect: target.outbox, schema, onAdd: () => relay.wake() });
    const relay = createRelay({ store: outbox.store(db), sender, pollIntervalMs: 200, closeSender: true });
    relay.on('sent', ({ messages }) => delivered.push(...messages));
    await relay.start();

    // 3. Orders: the business row and its message commit together, or not at all.
    const shop = db.withSchema(schema);
    const wanted = [
      { customer: 'ada', item: 'rainbow trout', quantity: 2 },
      { customer: 'grace', item: 'brown trout', quantity: 1 },
      { customer: 'linus', item: 'golden trout', quantity: 99 },
      { customer: 'margaret', item: 'sea trout', quantity: 3 },
    ];
    let placed = 0;
    let refused = 0;
    for (const order of wanted) {
      try {
        await shop.transaction().execute(async (trx) => {
          const row = { id: randomUUID(), ...order };
          await trx.insertInto('orders').values(row).execute();
          await outbox.addMessage(trx, {
            topic: 'orders',
            key: row.id,
            payload: {
              type: 'OrderPlaced',
              id: row.id,
              customer: row.customer,
              item: row.item,
              quantity: row.quantity,
            },
          });
          // A check after the writes: throwing here rolls back the order and its message.
          if (row.quantity > 10) throw new OutOfStock(`only 10 ${row.item} left`);
        });
        placed++;
        log(`placed an order for ${order.quantity} ${order.item}`);
      } catch (error) {
        if (!(error instanceof OutOfStock)) throw error;
        refused++;
        log(`refused: ${error.message} (the order and its message rolled back)`);
      }
    }

    // A controlled transaction works the same way.
    const trx = await shop.startTransaction().execute();
    try {
      const row = { id: randomUUID(), customer: 'barbara', item: 'lake trout', quantity: 1 };
      await trx.insertInto('orders').values(row).execute();
      await outbox.addMessage(trx, [
        { topic: 'orders', key: row.id, payload: { type: 'OrderPlaced', id: row.id } },
        { topic: 'emails', key: 'barbara', payload: { template: 'order-confirmation', order: row.id } },
      ]);
      await trx.commit().execute();
      placed++;
      log('placed an order for 1 lake trout, with a confirmation email');
    } catch (error) {
      await trx.rollback().execute();
      throw error;
    }

    // 4. Wait for the relay to deliver everything committed, then stop it (it drains).
    const deadline = Date.now() + 20_000;
    while ((await outbox.store(db).stats()).pending > 0) {
      if (Date.now() > deadline) throw new Error('the relay did not deliver within 20 s');
      await new Promise((r) => setTimeout(r, 20));
    }
    await relay.stop();

    const orderIds = new Set((await shop.selectFrom('orders').select('id').execute()).map((o) => o.id));
    const orderMessages = delivered.filter((m) => m.topic === 'orders');
    return {
      placed,
      refused,
      delivered: delivered.length,
      deliveredWithoutOrder: orderMessages.filter((m) => !orderIds.has(m.key ?? '')).length,
    };
  } finally {
    await db.destroy();
  }
}
