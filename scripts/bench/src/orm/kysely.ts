// Producer cost through @troutbox/kysely: a one-row business transaction plus one message via
// addMessage, against the same transaction plus an equivalent outbox row written with Kysely's
// own insertInto(…).values(…). Both on one pooled connection, interleaved, in the same run; once
// on PostgreSQL (PostgresDialect, node-postgres) and once on MariaDB/MySQL (MysqlDialect, mysql2;
// MYSQL_URL).
import { kyselyOutbox, type OutboxDialectName, outboxMigratorTables } from '@troutbox/kysely';
import {
  type Dialect,
  type Generated,
  Kysely,
  MysqlDialect,
  PostgresDialect,
  type RawBuilder,
  sql,
} from 'kysely';
import { Migrator } from 'kysely/migration';
import { createPool } from 'mysql2';
import pg from 'pg';
import { mysqlUrl } from '../databases.js';
import { type OrmOptions, type OrmRow, rowPerTarget } from '../orm-harness.js';
import { interleaved, schemaName } from '../util.js';

interface Database {
  orders: { id: number; customer: string; total: number };
  outbox_messages: {
    topic: string;
    key: string | null;
    payload: Uint8Array;
    content_type: string;
    headers: string;
    available_at: Generated<Date>;
    created_at: Generated<Date>;
  };
}

/** What differs between the databases; the benchmark itself is written once. */
interface Target {
  label: string;
  /** troutbox's dialect for the Kysely instance. */
  outbox: OutboxDialectName;
  /** Kysely's dialect on a pool of one connection. */
  dialect(): Dialect;
  /** The server's version, as one word, in column `v`. */
  versionSql: RawBuilder<{ v: string }>;
  /**
   * Values for the outbox row's times in the hand-written insert: PostgreSQL's table has defaults;
   * MySQL's has none (core writes UTC_TIMESTAMP(6) in its INSERT), so the hand-written one does too.
   */
  times(): Partial<Record<'available_at' | 'created_at', RawBuilder<Date>>>;
  drop(db: Kysely<Database>, ns: string): Promise<void>;
}

function targets(databaseUrl: string): Target[] {
  return [
    {
      label: 'PostgreSQL',
      outbox: 'postgres',
      dialect() {
        const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
        pool.on('error', () => {});
        return new PostgresDialect({ pool });
      },
      versionSql: sql<{ v: string }>`SELECT current_setting('server_version') AS v`,
      times: () => ({}),
      drop: (db, schema) => db.schema.dropSchema(schema).ifExists().cascade().execute(),
    },
    {
      label: 'MariaDB',
      outbox: 'mysql',
      dialect: () => new MysqlDialect({ pool: createPool({ uri: mysqlUrl, connectionLimit: 1 }) }),
      versionSql: sql<{ v: string }>`SELECT SUBSTRING_INDEX(VERSION(), '-', 1) AS v`,
      times: () => ({ available_at: sql<Date>`UTC_TIMESTAMP(6)`, created_at: sql<Date>`UTC_TIMESTAMP(6)` }),
      // A MySQL database takes its tables with it.
      drop: (db, database) => db.schema.dropSchema(database).ifExists().execute(),
    },
  ];
}

/** One row per database: PostgreSQL (`databaseUrl`) and MariaDB/MySQL (`MYSQL_URL`). */
export function bench(options: OrmOptions): Promise<OrmRow[]> {
  return rowPerTarget(
    targets(options.databaseUrl),
    (target) => `kysely on ${target.label}`,
    (target) => benchOn(target, options),
  );
}

async function benchOn(target: Target, options: OrmOptions): Promise<OrmRow> {
  // A schema on PostgreSQL, a database on MySQL: the bench's tables and both migration histories.
  const ns = schemaName('kysely');
  // One connection: both variants run on the same backend, as one application request would.
  const root = new Kysely<Database>({ dialect: target.dialect() });
  const db = root.withSchema(ns);
  try {
    await root.schema.createSchema(ns).execute();
    const { error } = await new Migrator({
      db: root,
      provider: kyselyOutbox({ dialect: target.outbox, schema: ns }).migrations(),
      ...outboxMigratorTables,
      migrationTableSchema: ns,
    }).migrateToLatest();
    if (error) throw error;
    await db.schema
      .createTable('orders')
      .addColumn('id', 'bigint', (c) => c.primaryKey())
      .addColumn('customer', 'varchar(64)', (c) => c.notNull())
      .addColumn('total', 'integer', (c) => c.notNull())
      .execute();
    const { rows } = await target.versionSql.execute(root);
    const version = String(rows[0]?.v ?? '').split(' ')[0];
    const outbox = kyselyOutbox({ dialect: target.outbox, schema: ns });

    const variants = {
      addMessage: (id: number) =>
        db.transaction().execute(async (trx) => {
          await trx
            .insertInto('orders')
            .values({ id, customer: 'c-42', total: id % 977 })
            .execute();
          await outbox.addMessage(trx, {
            topic: 'orders',
            key: String(id),
            payload: { type: 'OrderPlaced', orderId: id, total: id % 977 },
          });
        }),
      insertInto: (id: number) =>
        db.transaction().execute(async (trx) => {
          await trx
            .insertInto('orders')
            .values({ id, customer: 'c-42', total: id % 977 })
            .execute();
          await trx
            .insertInto('outbox_messages')
            .values({
              topic: 'orders',
              key: String(id),
              payload: Buffer.from(JSON.stringify({ type: 'OrderPlaced', orderId: id, total: id % 977 })),
              content_type: 'application/json',
              headers: '{}',
              ...target.times(),
            })
            .execute();
        }),
    };
    const txPerSec = await interleaved(variants, options);
    return {
      orm: `kysely 0.29 on ${target.label} ${version} (addMessage vs insertInto)`,
      withOutboxTxPerSec: txPerSec.addMessage,
      withOrmInsertTxPerSec: txPerSec.insertInto,
    };
  } finally {
    await target.drop(root, ns).finally(() => root.destroy());
  }
}
