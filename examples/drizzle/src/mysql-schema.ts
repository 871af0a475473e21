// The app's drizzle schema on MySQL / MariaDB. The outbox table is re-exported from here, so
// `DATABASE_URL=mysql://… pnpm generate` (drizzle-kit generate) writes its migration together
// with the orders table's. Both live in the connection's database.
import { mysqlOutboxTable } from '@troutbox/drizzle';
import { datetime, int, mysqlTable, varchar } from 'drizzle-orm/mysql-core';

export const orders = mysqlTable('orders', {
  id: varchar('id', { length: 36 }).primaryKey(),
  customer: varchar('customer', { length: 255 }).notNull(),
  totalCents: int('total_cents').notNull(),
  // drizzle writes and reads DATETIME as UTC.
  createdAt: datetime('created_at', { mode: 'date', fsp: 3 }).notNull(),
});

export const outboxMessages = mysqlOutboxTable();
