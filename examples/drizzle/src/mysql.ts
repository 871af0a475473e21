// The shop on MySQL or MariaDB: drizzle with mysql2, the migration drizzle-kit generated from
// src/mysql-schema.ts (drizzle-mysql/), and the outbox in the connection's database.
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { mysql } from '@troutbox/core';
import { addMessage, drizzleExecutor } from '@troutbox/drizzle';
import { drizzle } from 'drizzle-orm/mysql2';
import { migrate } from 'drizzle-orm/mysql2/migrator';
import mysql2 from 'mysql2/promise';
import * as schema from './mysql-schema.js';
import type { Shop } from './shop.js';

export async function openShop(databaseUrl: string): Promise<Shop> {
  const pool = mysql2.createPool({ uri: databaseUrl, connectionLimit: 5 });
  const db = drizzle(pool, { schema, mode: 'default' });
  await migrate(db, {
    migrationsFolder: fileURLToPath(new URL('../drizzle-mysql', import.meta.url)),
    migrationsTable: '__example_drizzle_migrations',
  });
  return {
    dialect: mysql(),
    executor: drizzleExecutor(db),
    placeOrder: ({ customer, totalCents }, outbox, fail = false) =>
      db.transaction(async (tx) => {
        // MySQL has no RETURNING: the app makes the id and the time.
        const order = { id: randomUUID(), customer, totalCents, createdAt: new Date() };
        await tx.insert(schema.orders).values(order);
        await addMessage(
          tx,
          {
            topic: 'orders',
            key: order.id,
            payload: {
              type: 'OrderPlaced',
              id: order.id,
              customer,
              totalCents,
              at: order.createdAt.toISOString(),
            },
          },
          { outbox },
        );
        if (fail) throw new Error(`payment declined for ${customer}`);
        return order.id;
      }),
    close: () => pool.end(),
  };
}
