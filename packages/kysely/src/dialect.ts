import { type Dialect, mysql, OutboxError, postgres } from '@troutbox/core';

/**
 * The databases troutbox's Kysely package knows, by the name of core's dialect: one entry per
 * database, and nothing else in the package branches on it.
 */
const dialects = {
  /** Kysely's `PostgresDialect` or `PGliteDialect`. */
  postgres: (table: OutboxTableOptions) => postgres(table),
  /** Kysely's `MysqlDialect` on MySQL 8.0+ or MariaDB 10.6+, where a schema is a database. */
  mysql: (table: OutboxTableOptions) => mysql({ database: table.schema, table: table.table }),
} satisfies Record<string, (table: OutboxTableOptions) => Dialect>;

/** The database the Kysely instance talks to. */
export type OutboxDialectName = keyof typeof dialects;

/** Where the outbox table lives. */
export interface OutboxTableOptions {
  /**
   * Schema of the outbox table (on MySQL, its database).
   * @defaultValue `'public'` on PostgreSQL, the connection's database on MySQL
   */
  schema?: string;
  /** Name of the outbox table. @defaultValue `'outbox_messages'` */
  table?: string;
}

/** {@link OutboxTableOptions} plus the database. */
export interface OutboxDialectOptions extends OutboxTableOptions {
  /**
   * The database of the Kysely instance: `'postgres'` for Kysely's `PostgresDialect` or
   * `PGliteDialect`, `'mysql'` for its `MysqlDialect` (MySQL or MariaDB).
   * @defaultValue `'postgres'`
   */
  dialect?: OutboxDialectName;
}

/** Core's dialect for these options; identifiers are validated by core. */
export function resolveDialect(options: OutboxDialectOptions): Dialect {
  const name = options.dialect ?? 'postgres';
  const create = Object.hasOwn(dialects, name) ? dialects[name] : undefined;
  if (create === undefined) {
    throw new OutboxError(
      'INVALID_OPTION',
      `dialect must be one of ${Object.keys(dialects).join(', ')}, got ${JSON.stringify(String(name))}`,
    );
  }
  return create({ schema: options.schema, table: options.table });
}
