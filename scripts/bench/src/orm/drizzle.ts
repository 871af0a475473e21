// Producer cost through @troutbox/drizzle: a one-row business transaction plus one message via
// addMessage, against the same transaction plus an equivalent outbox row written with drizzle's
// own tx.insert(outboxTable).values(…). Both on one pooled connection, interleaved, in the
// same run; once on PostgreSQL (node-postgres) and once on MariaDB/MySQL (mysql2, MYSQL_URL).
import { type Dialect, mysql, postgres } from '@troutbox/core';
import { addMessage, drizzleExecutor, mysqlOutboxTable, outboxTable } from '@troutbox/drizzle';
import { sql } from 'drizzle-orm';
import { int, bigint as mysqlBigint, mysqlSchema, varchar } from 'drizzle-orm/mysql-core';
import { drizzle as drizzleMysql2 } from 'drizzle-orm/mysql2';
import { drizzle as drizzleNodePg } from 'drizzle-orm/node-postgres';
import { bigint, integer, pgSchema, text } from 'drizzle-orm/pg-core';
import mysqlDriver from 'mysql2/promise';
import pg from 'pg';
import { type OrmOptions, type OrmRow, rowPerTarget } from '../orm-harness.js';
import { interleaved, schemaName } from '../util.js';

const mysqlUrl = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';

/** One database: its drizzle instance on one connection, the bench's tables, and the two variants. */
interface Setup {
  label: string;
  dialect: Dialect;
  /** The drizzle database (PostgreSQL or MySQL; the variants are written for each). */
  db: { execute(query: ReturnType<typeof sql.raw>): Promise<unknown> };
  createOrders: string;
  variants: { addMessage: (id: number) => Promise<unknown>; insert: (id: number) => Promise<unknown> };
  drop: string;
  end(): Promise<void>;
}

const payloadOf = (id: number) => ({ type: 'OrderPlaced', orderId: id, total: id % 977 });

function postgresSetup(databaseUrl: string): Setup {
  const schema = schemaName('drizzle');
  // One connection: both variants run on the same backend, as one application request would.
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  pool.on('error', () => {});
  const db = drizzleNodePg(pool);
  const orders = pgSchema(schema).table('orders', {
    id: bigint('id', { mode: 'number' }).primaryKey(),
    customer: text('customer').notNull(),
    total: integer('total').notNull(),
  });
  const outbox = outboxTable({ schema });
  return {
    label: 'drizzle 0.45 node-postgres, PostgreSQL (addMessage vs tx.insert)',
    dialect: postgres({ schema }),
    db,
    createOrders: `CREATE TABLE "${schema}".orders (id bigint PRIMARY KEY, customer text NOT NULL, total integer NOT NULL)`,
    variants: {
      addMessage: (id) =>
        db.transaction(async (tx) => {
          await tx.insert(orders).values({ id, customer: 'c-42', total: id % 977 });
          await addMessage(tx, { topic: 'orders', key: String(id), payload: payloadOf(id) }, { schema });
        }),
      insert: (id) =>
        db.transaction(async (tx) => {
          await tx.insert(orders).values({ id, customer: 'c-42', total: id % 977 });
          await tx.insert(outbox).values({
            topic: 'orders',
            key: String(id),
            payload: Buffer.from(JSON.stringify(payloadOf(id))),
            contentType: 'application/json',
            headers: {},
          });
        }),
    },
    drop: `DROP SCHEMA IF EXISTS "${schema}" CASCADE`,
    end: () => pool.end(),
  };
}

function mysqlSetup(): Setup {
  const database = schemaName('drizzle');
  const pool = mysqlDriver.createPool({ uri: mysqlUrl, connectionLimit: 1 });
  const db = drizzleMysql2(pool);
  const orders = mysqlSchema(database).table('orders', {
    id: mysqlBigint('id', { mode: 'number' }).primaryKey(),
    customer: varchar('customer', { length: 64 }).notNull(),
    total: int('total').notNull(),
  });
  const outbox = mysqlOutboxTable({ database });
  return {
    label: 'drizzle 0.45 mysql2, MariaDB (addMessage vs tx.insert)',
    dialect: mysql({ database }),
    db,
    createOrders: `CREATE TABLE \`${database}\`.orders (id BIGINT PRIMARY KEY, customer VARCHAR(64) NOT NULL, total INT NOT NULL)`,
    variants: {
      addMessage: (id) =>
        db.transaction(async (tx) => {
          await tx.insert(orders).values({ id, customer: 'c-42', total: id % 977 });
          await addMessage(tx, { topic: 'orders', key: String(id), payload: payloadOf(id) }, { database });
        }),
      insert: (id) =>
        db.transaction(async (tx) => {
          await tx.insert(orders).values({ id, customer: 'c-42', total: id % 977 });
          await tx.insert(outbox).values({
            topic: 'orders',
            key: String(id),
            payload: Buffer.from(JSON.stringify(payloadOf(id))),
            contentType: 'application/json',
            headers: {},
          });
        }),
    },
    drop: `DROP DATABASE IF EXISTS \`${database}\``,
    end: () => pool.end(),
  };
}

async function run(setup: Setup, options: OrmOptions): Promise<OrmRow> {
  const { db, variants } = setup;
  try {
    await setup.dialect.migrate(drizzleExecutor(db as never));
    await db.execute(sql.raw(setup.createOrders));
    const txPerSec = await interleaved(variants, options);
    return {
      orm: setup.label,
      withOutboxTxPerSec: txPerSec.addMessage,
      withOrmInsertTxPerSec: txPerSec.insert,
    };
  } finally {
    await db.execute(sql.raw(setup.drop));
    await setup.end();
  }
}

export function bench(options: OrmOptions): Promise<OrmRow[]> {
  // Pools connect lazily, so making both setups first opens nothing until each one runs.
  return rowPerTarget(
    [postgresSetup(options.databaseUrl), mysqlSetup()],
    (setup) => setup.label,
    (setup) => run(setup, options),
  );
}
