// The app's drizzle schema. The outbox table is re-exported from here, so `pnpm generate`
// (drizzle-kit generate) writes its migration together with the orders table's.
import { outboxTable } from '@troutbox/drizzle';
import { integer, pgSchema, text, timestamp } from 'drizzle-orm/pg-core';

export const shop = pgSchema('shop');

export const orders = shop.table('orders', {
  id: text('id').primaryKey(),
  customer: text('customer').notNull(),
  totalCents: integer('total_cents').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});

export const outboxMessages = outboxTable({ schema: shop });
