// Shared by the tests of this package; not part of the public API (excluded from the build).
import { type NewMessage, pgPool, postgres, SqlMessageStore } from '@troutbox/core';
import { uniqueName } from '@troutbox/core/testing';
import pg from 'pg';
import { DataSource, type DataSourceOptions, EntitySchema, type Logger } from 'typeorm';
import type { HasOutboxMessages } from './subscriber.js';

export const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A business entity that records outbox messages, mapped without decorators. */
export class Order implements HasOutboxMessages {
  declare id: number;
  declare total: number;
  declare status: string;
  #messages: NewMessage[] = [];

  static create(total: number): Order {
    const order = new Order();
    order.total = total;
    order.status = 'new';
    return order;
  }

  record(message: NewMessage): this {
    this.#messages.push(message);
    return this;
  }

  pullOutboxMessages(): NewMessage[] {
    return this.#messages.splice(0);
  }
}

export const OrderSchema = new EntitySchema<Order>({
  name: 'Order',
  target: Order,
  tableName: 'orders',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    total: { type: 'integer' },
    status: { type: 'text' },
  },
});

/** A logger that records every statement with the query runner that ran it. */
export class StatementLog implements Logger {
  readonly statements: string[] = [];
  readonly runners: unknown[] = [];
  logQuery(query: string, _parameters?: unknown[], queryRunner?: unknown): void {
    this.statements.push(query);
    this.runners.push(queryRunner);
  }
  logQueryError(): void {}
  logQuerySlow(): void {}
  logSchemaBuild(): void {}
  logMigration(): void {}
  log(): void {}
  clear(): void {
    this.statements.length = 0;
    this.runners.length = 0;
  }
}

/** A data source on its own schema (created here, dropped by `close`). */
export async function testDataSource(
  options: Partial<Pick<DataSourceOptions, 'entities' | 'subscribers' | 'migrations' | 'logger'>> & {
    schema?: string;
    synchronize?: boolean;
  } = {},
): Promise<{ dataSource: DataSource; schema: string; close(): Promise<void> }> {
  const schema = options.schema ?? uniqueName('typeorm');
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  await admin.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
  await admin.end();
  const dataSource = new DataSource({
    type: 'postgres',
    url: databaseUrl,
    schema,
    poolSize: 6,
    entities: options.entities ?? [],
    subscribers: options.subscribers ?? [],
    migrations: options.migrations ?? [],
    logger: options.logger,
    synchronize: options.synchronize ?? false,
  } as DataSourceOptions);
  await dataSource.initialize();
  return {
    dataSource,
    schema,
    async close() {
      await dataSource.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await dataSource.destroy();
    },
  };
}

/** A store on core's own pg executor, migrated by core, for reading what the ORM wrote. */
export async function coreStore(schema: string, table?: string) {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  const store = new SqlMessageStore({ dialect: postgres({ schema, table }), db: pgPool(pool) });
  await store.migrate();
  return { store, pool, close: () => pool.end() };
}
