import { type Dialect, OutboxError, postgres } from '@troutbox/core';

/**
 * The databases troutbox's Kysely package knows, by the name of core's dialect. MySQL joins as
 * one more entry here (for Kysely's `MysqlDialect`); nothing else in the package branches on it.
 */
const dialects = {
  postgres: (table: OutboxTableOptions) => postgres(table),
} satisfies Record<string, (table: OutboxTableOptions) => Dialect>;

/** The database the Kysely instance talks to. */
export type OutboxDialectName = keyof typeof dialects;

/** Where the outbox table lives. */
export interface OutboxTableOptions {
  /** Schema of the outbox table. @defaultValue `'public'` */
  schema?: string;
  /** Name of the outbox table. @defaultValue `'outbox_messages'` */
  table?: string;
}

/** {@link OutboxTableOptions} plus the database. */
export interface OutboxDialectOptions extends OutboxTableOptions {
  /** The database of the Kysely instance (Kysely's `PostgresDialect` or `PGliteDialect`). @defaultValue `'postgres'` */
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
