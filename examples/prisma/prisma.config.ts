// What `prisma migrate deploy` would use; see README for why the example applies the migrations itself.
import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: 'prisma/schema',
  migrations: { path: 'prisma/migrations' },
  datasource: {
    url: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test?schema=example_prisma',
  },
});
