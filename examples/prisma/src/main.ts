import { migrate } from './migrate.js';

// PostgreSQL by default; a mysql:// URL runs the same example on MySQL or MariaDB, e.g.
// DATABASE_URL=mysql://root@127.0.0.1:3306/example_prisma
const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
// PostgreSQL only: the schema of the example's tables (on MySQL the URL names the database).
const schema = process.env.EXAMPLE_SCHEMA ?? 'example_prisma';

await migrate(databaseUrl, schema);
// Imported after generation and migration, since it loads the generated client.
const { runExample } = await import('./app.js');
const { committed, delivered } = await runExample({ databaseUrl, schema, orders: 5, log: console.log });
console.log(`${committed.length} orders committed, ${delivered.length} messages delivered`);
