import {
  type Dialect,
  type MysqlDialectOptions,
  mysql,
  optionChecks,
  type PostgresDialectOptions,
  postgres,
} from '@troutbox/core';

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

/**
 * The outbox on PostgreSQL (Kysely's `PostgresDialect` or `PGliteDialect`): core's `postgres()`
 * options (`schema`, `table`, `ordering`, `notify`, `partitioned`), passed on as they are.
 */
export interface KyselyPostgresOptions extends PostgresDialectOptions {
  /** @defaultValue `'postgres'` */
  dialect?: 'postgres';
}

/**
 * The outbox on MySQL 8.0+ or MariaDB 10.6+ (Kysely's `MysqlDialect`): core's `mysql()` options
 * (`table`, `ordering`, `lockTimeoutSeconds`), with the database named `schema` as elsewhere in
 * this package.
 */
export interface KyselyMysqlOptions extends Omit<MysqlDialectOptions, 'database'> {
  dialect: 'mysql';
  /** Database of the outbox table. @defaultValue the connection's current database */
  schema?: string;
}

/**
 * A dialect made with core's `postgres({ … })` or `mysql({ … })`, which carries the table and
 * every option of its own: nothing else about the table may be given beside it.
 */
export interface KyselyDialectObjectOptions {
  dialect: Dialect;
}

/**
 * The database of the Kysely instance and the outbox table on it: `'postgres'` (the default) or
 * `'mysql'` with the dialect's options, or a core `Dialect`.
 *
 * @example
 * ```ts
 * kyselyOutbox({ schema: 'app', ordering: 'key' });
 * kyselyOutbox({ dialect: 'mysql', table: 'outbox' });
 * kyselyOutbox({ dialect: postgres({ schema: 'app', partitioned: true }) });
 * ```
 */
export type OutboxDialectOptions = KyselyPostgresOptions | KyselyMysqlOptions | KyselyDialectObjectOptions;

/**
 * The databases troutbox's Kysely package knows, by the name of core's dialect: one entry per
 * database, and nothing else in the package branches on it. Each lists every option its core
 * dialect takes (a `Record` over the option type's keys, so a new core option fails the
 * typecheck here until it is passed on), and makes the dialect from them.
 */
const dialects = {
  postgres: {
    options: { schema: true, table: true, ordering: true, notify: true, partitioned: true } satisfies Record<
      keyof PostgresDialectOptions,
      true
    >,
    create: (o: KyselyPostgresOptions): Dialect =>
      postgres({
        schema: o.schema,
        table: o.table,
        ordering: o.ordering,
        notify: o.notify,
        partitioned: o.partitioned,
      }),
  },
  mysql: {
    options: { schema: true, table: true, ordering: true, lockTimeoutSeconds: true } satisfies Record<
      keyof Omit<KyselyMysqlOptions, 'dialect'>,
      true
    >,
    create: (o: KyselyMysqlOptions): Dialect =>
      mysql({
        database: o.schema,
        table: o.table,
        ordering: o.ordering,
        lockTimeoutSeconds: o.lockTimeoutSeconds,
      }),
  },
};

/** The database the Kysely instance talks to. */
export type OutboxDialectName = keyof typeof dialects;

const isDialect = (value: object): value is Dialect =>
  typeof (value as Partial<Dialect>).insert === 'function' &&
  typeof (value as Partial<Dialect>).migrations === 'function';

/** A resolved dialect, and the schema its migrations should create (when named). */
export interface ResolvedDialect {
  readonly dialect: Dialect;
  readonly schema: string | undefined;
}

/**
 * Core's dialect for `options` of `owner` (`kyselyOutbox`, `outboxMigrations`), whose own
 * options besides the dialect's are `ownOptions`. Every option name is checked, so a typo
 * (`tabel`) or an option of the other database (`notify` on MySQL) is an `INVALID_OPTION` error
 * instead of a silent default; values are checked by core's dialect.
 */
export function resolveDialect(
  options: unknown,
  owner: string,
  ownOptions: readonly string[],
): ResolvedDialect {
  const { invalid } = optionChecks(owner);
  const given = options === undefined ? {} : options;
  if (typeof given !== 'object' || given === null || Array.isArray(given)) {
    invalid(
      `options must be an object, got ${given === null ? 'null' : Array.isArray(given) ? 'an array' : typeof given}`,
    );
  }
  const named = given as Record<string, unknown>;
  const choice = named.dialect;
  const own = new Set(['dialect', ...ownOptions]);
  const dialectOf = (name: string) =>
    Object.keys(dialects).filter((d) => Object.hasOwn(dialects[d as OutboxDialectName].options, name));

  if (typeof choice === 'object' && choice !== null) {
    if (!isDialect(choice))
      invalid("dialect must be 'postgres', 'mysql' or a dialect made by core's postgres() or mysql()");
    for (const name of Object.keys(named)) {
      if (own.has(name)) continue;
      if (dialectOf(name).length > 0) {
        invalid(
          `${name} belongs to the dialect, which already has its own: pass it to postgres({ ${name} }) or mysql({ … }) instead`,
        );
      }
      invalid(`unknown option ${JSON.stringify(name)}; the options are ${[...own].join(', ')}`);
    }
    return { dialect: choice as Dialect, schema: undefined };
  }

  const name = choice ?? 'postgres';
  if (typeof name !== 'string' || !Object.hasOwn(dialects, name)) {
    invalid(
      `dialect must be one of ${Object.keys(dialects).join(', ')} or a core Dialect, got ${JSON.stringify(String(name))}`,
    );
  }
  const entry = dialects[name as OutboxDialectName];
  for (const key of Object.keys(named)) {
    if (own.has(key) || Object.hasOwn(entry.options, key)) continue;
    const elsewhere = dialectOf(key);
    if (elsewhere.length > 0)
      invalid(`${key} is an option of the ${elsewhere.join(', ')} dialect, not of ${name}`);
    invalid(
      `unknown option ${JSON.stringify(key)}; the options are ${[...own, ...Object.keys(entry.options)].join(', ')}`,
    );
  }
  // Only the listed names are left, so the entry's own option type holds.
  const dialect = entry.create(named as never);
  return { dialect, schema: named.schema as string | undefined };
}
