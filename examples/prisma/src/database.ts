// The one place the example maps DATABASE_URL to a database: its Prisma schema folder, its
// migrations, its generated client and driver adapter, and the outbox options.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DialectName } from '@troutbox/prisma';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** `mysql://` (or `mariadb://`) runs on MySQL/MariaDB; anything else on PostgreSQL. */
export function databaseOf(databaseUrl: string): DialectName {
  return /^(mysql|mariadb):\/\//.test(databaseUrl) ? 'mysql' : 'postgres';
}

/** Each database's Prisma schema folder and migrations folder, relative to the example's root. */
export const prismaFolders: Readonly<Record<DialectName, { schema: string; migrations: string }>> = {
  postgres: { schema: 'prisma/schema', migrations: 'prisma/migrations' },
  mysql: { schema: 'prisma/mysql/schema', migrations: 'prisma/mysql/migrations' },
};
