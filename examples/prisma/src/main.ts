import { migrate } from './migrate.js';

const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = process.env.EXAMPLE_SCHEMA ?? 'example_prisma';

await migrate(databaseUrl, schema);
// Imported after generation and migration, since it loads the generated client.
const { runExample } = await import('./app.js');
const { committed, delivered } = await runExample({ databaseUrl, schema, orders: 5, log: console.log });
console.log(`${committed.length} orders committed, ${delivered.length} messages delivered`);
