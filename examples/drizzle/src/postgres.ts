// The shop on PostgreSQL: drizzle with node-postgres, the migration drizzle-kit generated from
// src/schema.ts (drizzle/), and the outbox in schema "shop".
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { postgres } from '@troutbox/core';
import { addMessage, drizzleExecutor } from '@troutbox/drizzle';
import { drizzle } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';
import * as schema from './schema.js';
import type { Shop } from './shop.js';

export async function openShop(databaseUrl: string): Promise<Shop> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 5 });
  const db = drizzle(pool, { schema });
  await migrate(db, {
    migrationsFolder: fileURLToPath(new URL('../drizzle', import.meta.url)),
    // Its own bookkeeping table: the migration creates schema "shop", so that cannot hold it.
    migrationsTable: '__example_drizzle_migrations',
  });
  return {
    dialect: postgres({ schema: 'shop' }),
    executor: drizzleExecutor(db),
    placeOrder: ({ customer, totalCents }, outbox, fail = false) =>
      db.transaction(async (tx) => {
        const [order] = await tx
          .insert(schema.orders)
          .values({ id: randomUUID(), customer, totalCents })
          .returning();
        const { id, createdAt } = order!;
        await addMessage(
          tx,
          {
            topic: 'orders',
            key: id,
            payload: { type: 'OrderPlaced', id, customer, totalCents, at: createdAt.toISOString() },
          },
          { outbox },
        );
        if (fail) throw new Error(`payment declined for ${customer}`);
        return id;
      }),
    close: () => pool.end(),
  };
}
