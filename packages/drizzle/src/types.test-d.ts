// Type tests, checked by `tsc` (the package's typecheck) and by vitest's typecheck mode.
import type { NewMessage, TransactionalExecutor } from '@troutbox/core';
import type { MySqlTransaction } from 'drizzle-orm/mysql-core';
import type { MySql2Database } from 'drizzle-orm/mysql2';
import type { NodePgDatabase } from 'drizzle-orm/node-postgres';
import type { PgliteDatabase } from 'drizzle-orm/pglite';
import type { PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import type { BaseSQLiteDatabase } from 'drizzle-orm/sqlite-core';
import type pg from 'pg';
import { describe, expectTypeOf, it } from 'vitest';
import {
  addMessage,
  drizzleExecutor,
  type MySqlOutboxTable,
  mysqlOutboxTable,
  type OutboxTable,
  outboxTable,
} from './index.js';

const outbox = outboxTable();
const schema = { outbox };
declare const nodePg: NodePgDatabase<typeof schema> & { $client: pg.Pool };
declare const nodePgNoSchema: NodePgDatabase;
declare const postgresJs: PostgresJsDatabase<typeof schema>;
declare const pglite: PgliteDatabase;
declare const mysql: MySql2Database;
declare const mysqlWithSchema: MySql2Database<{ outbox: MySqlOutboxTable }>;
declare const sqlite: BaseSQLiteDatabase<'async', unknown>;
declare const pool: pg.Pool;
type TxOf<D extends { transaction: (fn: (tx: any) => Promise<unknown>) => Promise<unknown> }> = Parameters<
  Parameters<D['transaction']>[0]
>[0];
const message = { topic: 'orders', key: '1', payload: { total: 42 } } satisfies NewMessage;

describe('addMessage', () => {
  it('accepts node-postgres, postgres-js and PGlite databases and their transactions', () => {
    expectTypeOf(addMessage).toBeCallableWith(nodePg, message);
    expectTypeOf(addMessage).toBeCallableWith(nodePgNoSchema, [message, message]);
    expectTypeOf(addMessage).toBeCallableWith(postgresJs, message);
    expectTypeOf(addMessage).toBeCallableWith(pglite, message, { schema: 'app', table: 'outbox' });
    expectTypeOf(addMessage).toBeCallableWith({} as TxOf<typeof nodePg>, message);
    expectTypeOf(addMessage).toBeCallableWith({} as TxOf<typeof postgresJs>, message);
    expectTypeOf(addMessage).toBeCallableWith({} as TxOf<typeof pglite>, message);
    // A savepoint: the transaction of a transaction.
    expectTypeOf(addMessage).toBeCallableWith({} as TxOf<TxOf<typeof nodePg>>, message);
    expectTypeOf(addMessage(nodePg, message)).toEqualTypeOf<Promise<number>>();
    // Inside the callback, as users write it.
    void nodePg.transaction(async (tx) => {
      await addMessage(tx, message);
    });
    void postgresJs.transaction((tx) => addMessage(tx, [message]));
    void pglite.transaction((tx) => addMessage(tx, { topic: 't', payload: new Uint8Array([1]) }));
  });

  it('accepts mysql2 databases, their transactions and savepoints, with MySQL options', () => {
    expectTypeOf(addMessage).toBeCallableWith(mysql, message);
    expectTypeOf(addMessage).toBeCallableWith(mysqlWithSchema, [message]);
    expectTypeOf(addMessage).toBeCallableWith(mysql, message, { database: 'app', table: 'outbox' });
    expectTypeOf(addMessage).toBeCallableWith({} as TxOf<typeof mysql>, message);
    expectTypeOf(addMessage).toBeCallableWith({} as TxOf<TxOf<typeof mysql>>, message);
    expectTypeOf(addMessage).toBeCallableWith({} as MySqlTransaction<any, any>, message);
    expectTypeOf(addMessage(mysql, message)).toEqualTypeOf<Promise<number>>();
    void mysql.transaction(async (tx) => {
      await addMessage(tx, message, { database: 'shop' });
    });
    // @ts-expect-error a PostgreSQL option on a MySQL database: MySQL names a database
    void addMessage(mysql, message, { schema: 'app' });
    // @ts-expect-error and a MySQL option on a PostgreSQL one
    void addMessage(nodePg, message, { database: 'app' });
  });

  it('rejects other handles and malformed messages', () => {
    // @ts-expect-error SQLite is not supported
    void addMessage(sqlite, message);
    // @ts-expect-error a raw pg Pool is not a drizzle database (use core's pgClient)
    void addMessage(pool, message);
    // @ts-expect-error nor is anything with a query method
    void addMessage({ query: async () => ({ rows: [] }) }, message);
    // @ts-expect-error topic must be a string
    void addMessage(nodePg, { topic: 1, payload: {} });
    // @ts-expect-error payload is required
    void addMessage(nodePg, { topic: 't' });
    // @ts-expect-error a function is not JSON
    void addMessage(nodePg, { topic: 't', payload: () => 1 });
    // @ts-expect-error headers are strings
    void addMessage(nodePg, { topic: 't', payload: 1, headers: { n: 1 } });
    // @ts-expect-error no such option
    void addMessage(nodePg, message, { tabel: 'x' });
  });

  it('takes the autocommit opt-in as a boolean, on both databases', () => {
    expectTypeOf(addMessage).toBeCallableWith(nodePg, message, { autocommit: true });
    expectTypeOf(addMessage).toBeCallableWith(mysql, message, { database: 'app', autocommit: true });
    // @ts-expect-error a boolean, not a string
    void addMessage(nodePg, message, { autocommit: 'yes' });
  });
});

describe('drizzleExecutor', () => {
  it('takes any PostgreSQL or MySQL drizzle database and gives a TransactionalExecutor', () => {
    expectTypeOf(drizzleExecutor(nodePg)).toEqualTypeOf<TransactionalExecutor>();
    expectTypeOf(drizzleExecutor(mysql)).toEqualTypeOf<TransactionalExecutor>();
    expectTypeOf(drizzleExecutor).toBeCallableWith(postgresJs);
    expectTypeOf(drizzleExecutor).toBeCallableWith(mysqlWithSchema, {
      onConnectionError: (e: Error) => void e,
    });
    expectTypeOf(drizzleExecutor).toBeCallableWith(pglite, { onConnectionError: (e: Error) => void e });
    // @ts-expect-error not a PostgreSQL or MySQL drizzle database
    drizzleExecutor(sqlite);
  });
});

describe('outboxTable', () => {
  it('types rows as drizzle reads and writes them', () => {
    expectTypeOf(outbox).toEqualTypeOf<OutboxTable>();
    type Row = typeof outbox.$inferSelect;
    expectTypeOf<Row['id']>().toEqualTypeOf<bigint>();
    expectTypeOf<Row['payload']>().toEqualTypeOf<Uint8Array>();
    expectTypeOf<Row['status']>().toEqualTypeOf<'pending' | 'sent' | 'dead'>();
    expectTypeOf<Row['headers']>().toEqualTypeOf<Record<string, string>>();
    expectTypeOf<Row['key']>().toEqualTypeOf<string | null>();
    expectTypeOf<Row['sentAt']>().toEqualTypeOf<Date | null>();
    type Insert = typeof outbox.$inferInsert;
    expectTypeOf<{ topic: string; payload: Uint8Array }>().toExtend<Insert>();
    // The identity column is GENERATED ALWAYS: drizzle does not let an insert set it.
    expectTypeOf<Insert>().not.toHaveProperty('id');
    // @ts-expect-error schema is a name or a pgSchema()
    outboxTable({ schema: 42 });
  });
});

describe('mysqlOutboxTable', () => {
  it('types rows as drizzle reads and writes them', () => {
    const table = mysqlOutboxTable({ database: 'app' });
    expectTypeOf(table).toEqualTypeOf<MySqlOutboxTable>();
    type Row = typeof table.$inferSelect;
    expectTypeOf<Row['id']>().toEqualTypeOf<bigint>();
    expectTypeOf<Row['payload']>().toEqualTypeOf<Uint8Array>();
    expectTypeOf<Row['status']>().toEqualTypeOf<'pending' | 'sent' | 'dead'>();
    expectTypeOf<Row['headers']>().toEqualTypeOf<Record<string, string>>();
    expectTypeOf<Row['key']>().toEqualTypeOf<string | null>();
    expectTypeOf<Row['createdAt']>().toEqualTypeOf<Date>();
    expectTypeOf<Row['sentAt']>().toEqualTypeOf<Date | null>();
    // Times and headers have defaults (the database's UTC clock, `{}`): an insert needs neither.
    type Insert = typeof table.$inferInsert;
    expectTypeOf<{ topic: string; payload: Uint8Array }>().toExtend<Insert>();
    // @ts-expect-error database is a name or a mysqlSchema()
    mysqlOutboxTable({ database: 42 });
    // @ts-expect-error MySQL has no schemas: the option is `database`
    mysqlOutboxTable({ schema: 'app' });
  });
});
