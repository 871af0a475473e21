import { type Dialect, type MessageLimits, mysql, OutboxError, postgres } from '@troutbox/core';

/** The databases this package can name; anything else is passed as a core `Dialect`. */
export type DialectName = 'postgres' | 'mysql';

/** Where the outbox table is: shared by {@link outbox} and {@link prismaStore}. */
export interface PrismaOutboxTableOptions {
  /**
   * The database: `'postgres'`, `'mysql'` (MySQL 8.0+ and MariaDB 10.6+, with
   * `@prisma/adapter-mariadb`), or a dialect object from `@troutbox/core` such as
   * `postgres({ schema, table })` or `mysql({ database, table })`. Use the same database as your
   * Prisma datasource. @defaultValue `'postgres'`
   */
  dialect?: DialectName | Dialect;
  /**
   * PostgreSQL: schema of the outbox table, when `dialect` is `'postgres'`. Must be the schema the
   * migration created the table in: your datasource's schema (`?schema=` in the URL, or the
   * adapter's `schema` option). @defaultValue `'public'`
   */
  schema?: string;
  /**
   * MySQL: database of the outbox table, when `dialect` is `'mysql'`.
   * @defaultValue the connection's database (the one in your datasource URL)
   */
  database?: string;
  /** Name of the outbox table, when `dialect` is a name. @defaultValue `'outbox_messages'` */
  table?: string;
  /** Limits checked before anything is written. @defaultValue core's `defaultMessageLimits` */
  limits?: Partial<MessageLimits>;
}

/** The option names of {@link PrismaOutboxTableOptions}. */
export const TABLE_OPTIONS = ['dialect', 'schema', 'database', 'table', 'limits'] as const;

/**
 * Refuse an option name `owner` does not know (`INVALID_OPTION`): a misspelt or misplaced option
 * (`ordering` next to a dialect name, `timeout` for `timeoutMs`) would otherwise be ignored.
 */
export function checkOptionNames(options: object, known: readonly string[], owner: string): void {
  for (const name of Object.keys(options)) {
    if (!known.includes(name)) {
      throw new OutboxError(
        'INVALID_OPTION',
        `${owner}: unknown option ${JSON.stringify(name)} (known: ${known.join(', ')})`,
      );
    }
  }
}

/**
 * Turn the table options into one dialect, once: the one place this package maps a database to
 * a dialect. A wrong option throws before any query.
 */
export function resolveDialect(options: PrismaOutboxTableOptions): Dialect {
  if (typeof options !== 'object' || options === null) {
    throw new OutboxError('INVALID_OPTION', 'options must be an object');
  }
  const { dialect = 'postgres', schema, database, table } = options;
  if (typeof dialect === 'object' && dialect !== null) {
    if (typeof dialect.insert !== 'function') {
      throw new OutboxError(
        'INVALID_OPTION',
        'dialect must be a dialect name or a dialect from @troutbox/core',
      );
    }
    if (schema !== undefined || database !== undefined || table !== undefined) {
      throw new OutboxError(
        'INVALID_OPTION',
        'give schema, database and table to the dialect (postgres({ schema, table }), mysql({ database, table })), not next to it',
      );
    }
    return dialect;
  }
  switch (dialect) {
    case 'postgres':
      if (database !== undefined) {
        throw new OutboxError('INVALID_OPTION', 'database is a MySQL option: on PostgreSQL, give the schema');
      }
      return postgres({ schema, table });
    case 'mysql':
      if (schema !== undefined) {
        throw new OutboxError(
          'INVALID_OPTION',
          'schema is a PostgreSQL option: on MySQL, give the database (or leave it to the datasource URL)',
        );
      }
      return mysql({ database, table });
    default:
      throw new OutboxError(
        'INVALID_OPTION',
        `unknown dialect ${JSON.stringify(String(dialect))}: use 'postgres', 'mysql' or a dialect from @troutbox/core`,
      );
  }
}
