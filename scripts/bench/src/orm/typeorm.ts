// Producer cost through @troutbox/typeorm: a one-row business transaction plus one message via
// addMessage (with the OutboxSubscriber registered, as an app would have it), against the same
// transaction plus an equivalent outbox row written with TypeORM's own manager.insert() on an
// entity mapped to a copy of the outbox table. Both on one pooled connection, interleaved, in
// the same run; once on PostgreSQL and once on MariaDB/MySQL (MYSQL_URL).
import {
  addMessage,
  dialectFor,
  outboxMessageEntity,
  outboxSubscriber,
  typeormExecutor,
} from '@troutbox/typeorm';
import { DataSource, type DataSourceOptions, EntitySchema } from 'typeorm';
import { type OrmOptions, type OrmRow, rowPerTarget } from '../orm-harness.js';
import { interleaved, schemaName } from '../util.js';

const mysqlUrl = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';

interface BenchOrder {
  id: number;
  customer: string;
  total: number;
}

/** A database to run on: the data source's type, its options in a namespace, and how to make and drop that. */
interface Target {
  label: string;
  type: 'postgres' | 'mysql' | 'mariadb';
  /** Data source options with the bench's tables in `ns` (a schema, or a database on MySQL). */
  options(ns: string): DataSourceOptions;
  /** Outbox options naming `ns`. */
  where(ns: string): { schema?: string; database?: string };
  /** A data source on the server, to create and drop `ns`. */
  server: DataSourceOptions;
  /** The server's version, as one word. */
  versionSql: string;
  create(server: DataSource, ns: string): Promise<void>;
  drop(server: DataSource, ns: string): Promise<void>;
}

function targets(databaseUrl: string): Target[] {
  const inDatabase = (ns: string) => {
    const url = new URL(mysqlUrl);
    url.pathname = `/${ns}`;
    return url.toString();
  };
  return [
    {
      label: 'PostgreSQL',
      type: 'postgres',
      options: (schema) => ({ type: 'postgres', url: databaseUrl, schema }),
      where: (schema) => ({ schema }),
      server: { type: 'postgres', url: databaseUrl },
      versionSql: 'SELECT version() AS v',
      create: (server, schema) => server.createQueryRunner().createSchema(schema, true),
      drop: (server, schema) => server.createQueryRunner().dropSchema(schema, true, true),
    },
    {
      label: 'MariaDB',
      type: 'mariadb',
      // TypeORM lets the url's database win over `database`; times are UTC.
      options: (database) => ({ type: 'mariadb', url: inDatabase(database), timezone: 'Z' }),
      where: (database) => ({ database }),
      server: { type: 'mariadb', url: mysqlUrl },
      versionSql: "SELECT SUBSTRING_INDEX(VERSION(), '-', 1) AS v",
      create: (server, database) => server.createQueryRunner().createDatabase(database, true),
      drop: (server, database) => server.createQueryRunner().dropDatabase(database, true),
    },
  ];
}

/** One row per database: PostgreSQL (`databaseUrl`) and MariaDB/MySQL (`MYSQL_URL`). */
export function bench(options: OrmOptions): Promise<OrmRow[]> {
  return rowPerTarget(
    targets(options.databaseUrl),
    (target) => `typeorm on ${target.label}`,
    (target) => benchOn(target, options),
  );
}

async function benchOn(target: Target, options: OrmOptions): Promise<OrmRow> {
  const ns = schemaName('typeorm');
  const Order = new EntitySchema<BenchOrder>({
    name: 'BenchOrder',
    tableName: 'orders',
    columns: {
      id: { type: 'bigint', primary: true },
      customer: { type: 'varchar', length: 64 },
      total: { type: 'integer' },
    },
  });
  // The same columns, indexes and defaults as the outbox table, on a table of its own.
  const OutboxCopy = outboxMessageEntity({ type: target.type, ...target.where(ns), table: 'outbox_copy' });
  const server = new DataSource(target.server);
  await server.initialize();
  let version = '';
  try {
    await target.create(server, ns);
    const [row] = await server.query(target.versionSql);
    version = String(row.v)
      .replace(/^PostgreSQL /, '')
      .split(' ')[0]!;
  } finally {
    await server.destroy();
  }
  const dataSource = new DataSource({
    ...target.options(ns),
    // One connection: both variants run on the same backend, as one application request would.
    poolSize: 1,
    entities: [Order, OutboxCopy],
    subscribers: [outboxSubscriber(target.where(ns))],
  } as DataSourceOptions);
  await dataSource.initialize();
  try {
    await dataSource.synchronize(); // the orders table; the outbox entities are left alone
    await dialectFor(target.type, target.where(ns)).migrate(typeormExecutor(dataSource));
    await dialectFor(target.type, { ...target.where(ns), table: 'outbox_copy' }).migrate(
      typeormExecutor(dataSource),
    );

    const variants = {
      addMessage: (id: number) =>
        dataSource.transaction(async (manager) => {
          await manager.insert(Order, { id, customer: 'c-42', total: id % 977 });
          await addMessage(manager, {
            topic: 'orders',
            key: String(id),
            payload: { type: 'OrderPlaced', orderId: id, total: id % 977 },
          });
        }),
      insert: (id: number) =>
        dataSource.transaction(async (manager) => {
          await manager.insert(Order, { id, customer: 'c-42', total: id % 977 });
          // MySQL's outbox table has no defaults for its times (core writes them): name them here.
          const now = new Date();
          await manager.insert(OutboxCopy, {
            topic: 'orders',
            key: String(id),
            payload: Buffer.from(JSON.stringify({ type: 'OrderPlaced', orderId: id, total: id % 977 })),
            contentType: 'application/json',
            headers: {},
            availableAt: now,
            createdAt: now,
          });
        }),
    };
    const txPerSec = await interleaved(variants, options);
    return {
      orm: `typeorm 1.1 on ${target.label} ${version} (addMessage vs manager.insert)`,
      withOutboxTxPerSec: txPerSec.addMessage,
      withOrmInsertTxPerSec: txPerSec.insert,
    };
  } finally {
    await dataSource.destroy();
    const cleanup = new DataSource(target.server);
    await cleanup.initialize();
    await target.drop(cleanup, ns).finally(() => cleanup.destroy());
  }
}
