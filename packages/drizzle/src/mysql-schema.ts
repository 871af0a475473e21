import { OutboxError, validateIdentifier } from '@troutbox/core';
import { type SQL, sql } from 'drizzle-orm';
import {
  type AnyMySqlColumn,
  bigint,
  check,
  customType,
  datetime,
  index,
  int,
  type MySqlSchema,
  type MySqlTableWithColumns,
  mysqlSchema,
  mysqlTable,
} from 'drizzle-orm/mysql-core';
import { hasEntityKind } from './dialect.js';
import { checkOptionNames, describeValue } from './options.js';

/** Options of {@link mysqlOutboxTable}: the same names `mysql()` in `@troutbox/core` takes. */
export interface MySqlOutboxTableOptions {
  /**
   * Database of the outbox table: a name, or a `mysqlSchema()` of yours. drizzle-kit 0.31
   * leaves tables of a `mysqlSchema()` out of the migrations it generates, so a table in another
   * database is created by the shipped folder (`mysqlDrizzleMigrations`) or core's `migrate()`.
   * @defaultValue the connection's database
   */
  database?: string | MySqlSchema;
  /** Name of the outbox table. @defaultValue `'outbox_messages'` */
  table?: string;
}

// Core's table is utf8mb4 with binary collation (topics and keys compare byte for byte, with no
// case folding or trailing-space padding). drizzle's varchar and text columns take no collation,
// and drizzle-kit writes no table options, so the text columns say theirs in their type.
const BINARY_TEXT = 'CHARACTER SET utf8mb4 COLLATE utf8mb4_bin';

function varcharBin<T extends string = string>(length: number) {
  return customType<{ data: T; driverData: string }>({
    dataType: () => `varchar(${length}) ${BINARY_TEXT}`,
  });
}
const topicText = varcharBin(255);
const statusText = varcharBin<'pending' | 'sent' | 'dead'>(16);
const contentTypeText = varcharBin(64);
const errorText = customType<{ data: string; driverData: string }>({
  dataType: () => `text ${BINARY_TEXT}`,
});

// Headers are JSON text in a LONGTEXT column (MariaDB's JSON is LONGTEXT too, and core writes
// and reads the text itself).
const headersText = customType<{ data: Record<string, string>; driverData: string }>({
  dataType: () => `longtext ${BINARY_TEXT}`,
  toDriver: (value) => JSON.stringify(value),
  fromDriver: (value) => JSON.parse(value) as Record<string, string>,
});

// mysql2 reads LONGBLOB as a Buffer (a Uint8Array), and escapes a plain Uint8Array as an object,
// so writes hand it a Buffer view of the same bytes.
const longblob = customType<{ data: Uint8Array; driverData: Uint8Array }>({
  dataType: () => 'longblob',
  toDriver: (value) =>
    Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength),
});

// Core fills the times from the database's UTC clock on insert; the column has no default in
// core's DDL, so drizzle's own inserts get the same value from a client-side default that is
// SQL, not a Date from this process's clock.
const utcNow = (): SQL => sql`UTC_TIMESTAMP(6)`;

function mysqlOutboxColumns() {
  return {
    id: bigint('id', { mode: 'bigint' }).autoincrement().primaryKey(),
    topic: topicText('topic').notNull(),
    key: topicText('key'),
    payload: longblob('payload').notNull(),
    contentType: contentTypeText('content_type').notNull().default('application/json'),
    headers: headersText('headers')
      .notNull()
      .$defaultFn(() => ({})),
    status: statusText('status').notNull().default('pending'),
    attempts: int('attempts').notNull().default(0),
    // drizzle's datetime columns write and read UTC, as core does.
    availableAt: datetime('available_at', { mode: 'date', fsp: 6 }).notNull().$defaultFn(utcNow),
    createdAt: datetime('created_at', { mode: 'date', fsp: 6 }).notNull().$defaultFn(utcNow),
    sentAt: datetime('sent_at', { mode: 'date', fsp: 6 }),
    lastError: errorText('last_error'),
    // Place in its key's commit order, written by producers of an `ordering: 'key'` table.
    seq: bigint('seq', { mode: 'bigint' }),
  };
}

/** The columns of the MySQL outbox table, as drizzle builds them. */
export type MySqlOutboxColumns = ReturnType<typeof mysqlOutboxColumns>;

/** A drizzle table object for the MySQL outbox table (see {@link mysqlOutboxTable}). */
export type MySqlOutboxTable = MySqlTableWithColumns<{
  name: string;
  schema: string | undefined;
  columns: ReturnType<typeof buildDefault>['_']['columns'];
  dialect: 'mysql';
}>;

// Index and constraint names are the ones core's migration gives, so a table drizzle-kit
// generated and one `mysql().migrate()` created are the same table.
function mysqlExtras(name: string) {
  return (t: Record<'id' | 'key' | 'status' | 'availableAt' | 'sentAt' | 'seq', AnyMySqlColumn>) => [
    check(`${name}_status_check`, sql`status IN ('pending', 'sent', 'dead')`),
    // The claim query reads pending rows in due order along this one range.
    index(`${name}_claim_idx`).on(t.status, t.availableAt, t.id),
    index(`${name}_sent_idx`).on(t.status, t.sentAt),
    // Core's migration 2, for the ordered claim: it walks the pending keys one probe a key, and
    // the pending messages without a key (key and seq NULL) form one range in due order.
    index(`${name}_key_seq_idx`).on(t.status, t.key, t.seq, t.availableAt),
  ];
}

/**
 * The validated database name of an option that is a name or a `mysqlSchema()`; any other object
 * is an `INVALID_OPTION`.
 */
export function databaseName(database: string | MySqlSchema | undefined): string | undefined {
  if (database === undefined) return undefined;
  if (typeof database === 'string') return validateIdentifier(database, 'database', 64);
  if (!hasEntityKind(database, 'MySqlSchema')) {
    throw new OutboxError(
      'INVALID_OPTION',
      `database must be a name or a mysqlSchema() from drizzle-orm/mysql-core, got ${describeValue(database)}`,
    );
  }
  return validateIdentifier(database.schemaName, 'database', 64);
}

function buildDefault(name: string) {
  return mysqlTable(name, mysqlOutboxColumns(), mysqlExtras(name));
}

/**
 * The outbox table on MySQL 8.0+ or MariaDB 10.6+ as a drizzle `mysql-core` table object: the
 * table `mysql().migrate()` from `@troutbox/core` creates, column for column (`BIGINT
 * AUTO_INCREMENT` id, utf8mb4_bin text, `LONGBLOB` payload, `DATETIME(6)` UTC times), with the
 * same check constraint and indexes. Re-export it from your drizzle schema and `drizzle-kit
 * generate` (dialect `mysql`) writes its migration with yours.
 *
 * Names are validated as plain identifiers; a bad one throws an `OutboxError` with code
 * `INVALID_IDENTIFIER`. An unknown option name, or a `database` that is neither a name nor a
 * `mysqlSchema()`, is an `INVALID_OPTION`.
 *
 * @example
 * ```ts
 * // src/db/schema.ts
 * import { mysqlOutboxTable } from '@troutbox/drizzle';
 * export const outboxMessages = mysqlOutboxTable(); // outbox_messages in the connection's database
 * ```
 */
export function mysqlOutboxTable(options: MySqlOutboxTableOptions = {}): MySqlOutboxTable {
  checkOptionNames('mysqlOutboxTable', options, ['database', 'table']);
  const name = validateIdentifier(options.table ?? 'outbox_messages', 'table');
  const database = databaseName(options.database);
  if (database === undefined) return buildDefault(name) as MySqlOutboxTable;
  const owner = typeof options.database === 'object' ? options.database : mysqlSchema(database);
  return owner.table(name, mysqlOutboxColumns(), mysqlExtras(name)) as MySqlOutboxTable;
}
