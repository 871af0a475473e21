import { type Dialect, type MessageLimits, OutboxError, postgres } from '@troutbox/core';

/** The databases this package can name; anything else is passed as a core `Dialect`. */
export type DialectName = 'postgres';

/** Where the outbox table is: shared by {@link outbox} and {@link prismaStore}. */
export interface PrismaOutboxTableOptions {
  /**
   * The database: `'postgres'`, or a dialect object from `@troutbox/core` such as
   * `postgres({ schema, table })`. Use the same database as your Prisma datasource.
   * @defaultValue `'postgres'`
   */
  dialect?: DialectName | Dialect;
  /**
   * Schema of the outbox table, when `dialect` is a name. Must be the schema the migration
   * created the table in: your datasource's schema (`?schema=` in the URL, or the adapter's
   * `schema` option). @defaultValue `'public'`
   */
  schema?: string;
  /** Name of the outbox table, when `dialect` is a name. @defaultValue `'outbox_messages'` */
  table?: string;
  /** Limits checked before anything is written. @defaultValue core's `defaultMessageLimits` */
  limits?: Partial<MessageLimits>;
}

/** Turn the table options into one dialect, once; a wrong option throws before any query. */
export function resolveDialect(options: PrismaOutboxTableOptions): Dialect {
  if (typeof options !== 'object' || options === null) {
    throw new OutboxError('INVALID_OPTION', 'options must be an object');
  }
  const { dialect = 'postgres', schema, table } = options;
  if (typeof dialect === 'object' && dialect !== null) {
    if (typeof dialect.insert !== 'function') {
      throw new OutboxError(
        'INVALID_OPTION',
        'dialect must be a dialect name or a dialect from @troutbox/core',
      );
    }
    if (schema !== undefined || table !== undefined) {
      throw new OutboxError(
        'INVALID_OPTION',
        'give schema and table to the dialect (postgres({ schema, table })), not next to it',
      );
    }
    return dialect;
  }
  switch (dialect) {
    case 'postgres':
      return postgres({ schema, table });
    default:
      throw new OutboxError(
        'INVALID_OPTION',
        `unknown dialect ${JSON.stringify(String(dialect))}: use 'postgres' or a dialect from @troutbox/core`,
      );
  }
}
