import { OutboxError, validateIdentifier } from '@troutbox/core';
import { sql } from 'drizzle-orm';
import {
  bigint,
  check,
  customType,
  type ExtraConfigColumn,
  index,
  integer,
  jsonb,
  type PgSchema,
  type PgTableWithColumns,
  pgSchema,
  pgTable,
  text,
  timestamp,
} from 'drizzle-orm/pg-core';
import { hasEntityKind } from './dialect.js';
import { checkOptionNames, describeValue } from './options.js';

/** Options of {@link outboxTable}: the same names `postgres()` in `@troutbox/core` takes. */
export interface OutboxTableOptions {
  /**
   * Schema of the outbox table: a name, or a `pgSchema()` of yours. drizzle-kit writes
   * `CREATE SCHEMA` only for schema objects your schema file exports, so for a schema of its
   * own either export its `pgSchema()` too or pass it here.
   * @defaultValue `'public'`
   */
  schema?: string | PgSchema;
  /** Name of the outbox table. @defaultValue `'outbox_messages'` */
  table?: string;
}

// drizzle-orm 0.45 has no bytea column; the drivers return Buffer (node-postgres, postgres-js)
// or Uint8Array (PGlite), and Buffer is a Uint8Array, so reading needs no conversion.
const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({
  dataType: () => 'bytea',
});

function outboxColumns() {
  return {
    id: bigint('id', { mode: 'bigint' }).primaryKey().generatedAlwaysAsIdentity(),
    topic: text('topic').notNull(),
    key: text('key'),
    payload: bytea('payload').notNull(),
    contentType: text('content_type').notNull().default('application/json'),
    headers: jsonb('headers').$type<Record<string, string>>().notNull().default(sql`'{}'::jsonb`),
    status: text('status', { enum: ['pending', 'sent', 'dead'] })
      .notNull()
      .default('pending'),
    attempts: integer('attempts').notNull().default(0),
    availableAt: timestamp('available_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    sentAt: timestamp('sent_at', { withTimezone: true, mode: 'date' }),
    lastError: text('last_error'),
    // Place in its key's commit order, written by producers of an `ordering: 'key'` table.
    seq: bigint('seq', { mode: 'bigint' }),
  };
}

/** The columns of the outbox table, as drizzle builds them. */
export type OutboxColumns = ReturnType<typeof outboxColumns>;

/** A drizzle table object for the outbox table (see {@link outboxTable}). */
export type OutboxTable = PgTableWithColumns<{
  name: string;
  schema: string | undefined;
  columns: ReturnType<typeof buildPublic>['_']['columns'];
  dialect: 'pg';
}>;

// Constraint and index names are the ones core's migration gives, so drizzle-kit sees no
// difference between a table it generated and one `postgres().migrate()` created.
function extras(name: string) {
  return (t: Record<'id' | 'key' | 'availableAt' | 'sentAt' | 'seq', ExtraConfigColumn>) => [
    check(`${name}_status_check`, sql`status IN ('pending', 'sent', 'dead')`),
    // The claim query walks this index in order; sent and dead rows are not in it.
    index(`${name}_pending_idx`).on(t.availableAt, t.id).where(sql`status = 'pending'`),
    index(`${name}_dead_idx`).on(t.id).where(sql`status = 'dead'`),
    index(`${name}_sent_idx`).on(t.sentAt).where(sql`status = 'sent'`),
    // Core's migration 2, for the ordered claim: it walks the keyed pending messages from key to
    // key (each key's first pending seq and the run after it), and reads an ordered table's
    // unkeyed pending messages (written with seq 0) in due order without walking keyed ones.
    index(`${name}_key_seq_idx`).on(t.key, t.seq).where(sql`status = 'pending' AND seq > 0`),
    index(`${name}_unkeyed_idx`).on(t.availableAt, t.id).where(sql`status = 'pending' AND seq = 0`),
  ];
}

/**
 * The validated schema name of an option that is a name or a `pgSchema()`. Any other object (a
 * `mysqlSchema()`, a table, a look-alike) is an `INVALID_OPTION`: drizzle-kit would not see it as
 * a schema, and its name may not be what the table is meant to be in.
 */
export function schemaName(schema: string | PgSchema | undefined): string {
  if (schema === undefined || typeof schema === 'string')
    return validateIdentifier(schema ?? 'public', 'schema');
  if (!hasEntityKind(schema, 'PgSchema')) {
    throw new OutboxError(
      'INVALID_OPTION',
      `schema must be a name or a pgSchema() from drizzle-orm/pg-core, got ${describeValue(schema)}`,
    );
  }
  return validateIdentifier(schema.schemaName, 'schema');
}

function buildPublic(name: string) {
  return pgTable(name, outboxColumns(), extras(name));
}

/**
 * The outbox table as a drizzle table object: the table `postgres().migrate()` from
 * `@troutbox/core` creates, column for column, with the same check constraint and partial
 * indexes. Re-export it from your drizzle schema and `drizzle-kit generate` writes the migration
 * with your own.
 *
 * Names are validated as plain identifiers; a bad one throws an `OutboxError` with code
 * `INVALID_IDENTIFIER`. An unknown option name, or a `schema` that is neither a name nor a
 * `pgSchema()`, is an `INVALID_OPTION`.
 *
 * @example
 * ```ts
 * // src/db/schema.ts
 * import { outboxTable } from '@troutbox/drizzle';
 * export const outboxMessages = outboxTable();            // public.outbox_messages
 * // or, in a schema of its own:
 * export const app = pgSchema('app');
 * export const outbox = outboxTable({ schema: app, table: 'outbox' });
 * ```
 */
export function outboxTable(options: OutboxTableOptions = {}): OutboxTable {
  checkOptionNames('outboxTable', options, ['schema', 'table']);
  const name = validateIdentifier(options.table ?? 'outbox_messages', 'table');
  const schema = schemaName(options.schema);
  // drizzle-kit treats `public` as "no schema"; pgSchema('public') is refused by it.
  if (schema === 'public') return buildPublic(name) as OutboxTable;
  const owner = typeof options.schema === 'object' ? options.schema : pgSchema(schema);
  return owner.table(name, outboxColumns(), extras(name)) as OutboxTable;
}
