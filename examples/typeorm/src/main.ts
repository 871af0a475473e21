import { runExample } from './app.js';

const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = process.env.OUTBOX_SCHEMA ?? 'troutbox_example_typeorm';

const summary = await runExample({ databaseUrl, schema });
process.exitCode = summary.delivered.length >= summary.committed && summary.rolledBackDelivered === 0 ? 0 : 1;
