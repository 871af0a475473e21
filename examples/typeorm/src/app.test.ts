import { uniqueName } from '@troutbox/core/testing';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { runExample } from './app.js';

// The same app on each database; each run in a schema (a database on MySQL) of its own.
const databases = [
  {
    name: 'PostgreSQL',
    url: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    async drop(url: string, schema: string) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
    },
  },
  {
    name: 'MariaDB',
    url: process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test',
    async drop(url: string, database: string) {
      const conn = await mysql.createConnection({ uri: url });
      await conn.query(`DROP DATABASE IF EXISTS \`${database}\``);
      await conn.end();
    },
  },
];

describe.each(databases)('the TypeORM example on $name', ({ url, drop }) => {
  const schema = uniqueName('example_typeorm');
  afterAll(() => drop(url, schema));

  it('delivers every committed event and none of the rolled-back one', async () => {
    const lines: string[] = [];
    const summary = await runExample({ databaseUrl: url, schema, log: (line) => lines.push(line) });
    expect(summary.rolledBackDelivered).toBe(0);
    expect(summary.delivered).toHaveLength(5);
    const text = summary.delivered.join('\n');
    for (const type of ['OrderPlaced', 'OrderPaid', 'BatchClosed']) expect(text).toContain(type);
    expect(text).not.toContain('mallory');
    // Run again on the same schema: migrations are up to date, delivery works the same.
    const again = await runExample({ databaseUrl: url, schema, log: (line) => lines.push(line) });
    expect(again.delivered).toHaveLength(5);
    expect(lines).toContain('migrations: up to date');
  });
});
