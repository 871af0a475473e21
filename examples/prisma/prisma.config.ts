// What `prisma migrate deploy` would use; see README for why the example applies the migrations
// itself. A mysql:// DATABASE_URL selects the MySQL schema and migrations folders.
import { defineConfig } from 'prisma/config';
import { databaseOf, prismaFolders } from './src/database.js';

const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test?schema=example_prisma';
const folders = prismaFolders[databaseOf(url)];

export default defineConfig({
  schema: folders.schema,
  migrations: { path: folders.migrations },
  datasource: { url },
});
