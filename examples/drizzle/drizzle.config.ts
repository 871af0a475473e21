import { defineConfig } from 'drizzle-kit';
import { databaseKind } from './src/database-kind.js';

// `pnpm generate` writes the PostgreSQL migration (drizzle/) from src/schema.ts; with a
// mysql:// or mariadb:// DATABASE_URL, the MySQL one (drizzle-mysql/) from src/mysql-schema.ts.
const mysql = process.env.DATABASE_URL !== undefined && databaseKind(process.env.DATABASE_URL) === 'mysql';

export default defineConfig(
  mysql
    ? { dialect: 'mysql', schema: './src/mysql-schema.ts', out: './drizzle-mysql' }
    : { dialect: 'postgresql', schema: './src/schema.ts', out: './drizzle' },
);
