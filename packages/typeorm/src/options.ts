import {
  createOutbox,
  type Dialect,
  type MessageLimits,
  mysql,
  type Outbox,
  OutboxError,
  postgres,
  resolveLimits,
  validateIdentifier,
} from '@troutbox/core';

/**
 * Where the outbox table is and how messages are checked; shared by every helper of this package.
 *
 * @example
 * ```ts
 * const options: TypeormOutboxOptions = { schema: 'app', table: 'outbox', limits: { maxPayloadBytes: 65_536 } };
 * ```
 */
export interface TypeormOutboxOptions {
  /** PostgreSQL: schema of the outbox table. @defaultValue `'public'` */
  schema?: string;
  /**
   * MySQL / MariaDB: database of the outbox table (TypeORM's `database`, as on an entity).
   * @defaultValue the connection's current database
   */
  database?: string;
  /** Name of the outbox table. @defaultValue `'outbox_messages'` */
  table?: string;
  /** Limits checked before anything is written. @defaultValue core's `defaultMessageLimits` */
  limits?: Partial<MessageLimits>;
  /**
   * The dialect to write with, instead of the one picked from the data source's `type`
   * (`postgres` → `postgres({ schema, table })`, `mysql` / `mariadb` → `mysql({ database, table })`).
   * `schema`, `database` and `table` are then ignored.
   */
  dialect?: Dialect;
  /**
   * Accept writes through a handle that is not in a transaction: `dataSource.manager`, a query
   * runner with no transaction started, an entity saved with `{ transaction: false }`. Each
   * such write commits on its own, whatever happens to the business change around it. Off by
   * default: such a write is refused with `NOT_IN_TRANSACTION` before any SQL. A handle whose
   * transaction has ended is refused even so.
   * @defaultValue false
   */
  autocommit?: boolean;
}

/** The options that say where the outbox table is: what the migrations and `dialectFor` read. */
export const TABLE_OPTIONS: readonly string[] = ['schema', 'database', 'table', 'dialect'];
/** Every option of {@link TypeormOutboxOptions}: what the writers (`addMessage`, the subscriber) read. */
export const WRITE_OPTIONS: readonly string[] = [...TABLE_OPTIONS, 'limits', 'autocommit'];
/** The subscriber's options: the writers' and its `onCommit` hook. */
export const SUBSCRIBER_OPTIONS: readonly string[] = [...WRITE_OPTIONS, 'onCommit'];

/**
 * Check options once, up front, so a bad name fails at start-up rather than on the first save.
 * `known` lists the option names the caller reads: any other is an `INVALID_OPTION`, so a typo
 * or an option meant for another helper is never silently ignored.
 */
export function checkOptions<O extends TypeormOutboxOptions>(
  options: O | undefined,
  where: string,
  known: readonly string[],
): O {
  if (options === undefined) return {} as O;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new OutboxError('INVALID_OPTION', `${where}: options must be an object`);
  }
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new OutboxError(
        'INVALID_OPTION',
        `${where}: unknown option "${key}" (expected one of: ${known.join(', ')})`,
      );
    }
  }
  if (options.autocommit !== undefined && typeof options.autocommit !== 'boolean') {
    throw new OutboxError('INVALID_OPTION', `${where}: autocommit must be a boolean`);
  }
  if (options.schema !== undefined) validateIdentifier(options.schema, 'schema');
  if (options.database !== undefined) validateIdentifier(options.database, 'database', 64);
  if (options.table !== undefined) validateIdentifier(options.table, 'table');
  if (options.schema !== undefined && options.database !== undefined) {
    throw new OutboxError(
      'INVALID_OPTION',
      `${where}: give \`schema\` (PostgreSQL) or \`database\` (MySQL), not both`,
    );
  }
  if (options.dialect !== undefined && typeof options.dialect?.insert !== 'function') {
    throw new OutboxError('INVALID_OPTION', `${where}: dialect must be a troutbox Dialect (postgres(), …)`);
  }
  resolveLimits(options.limits);
  return Object.freeze({ ...options });
}

/** The TypeORM data source types of each database this package speaks. */
const POSTGRES_TYPES = ['postgres', 'aurora-postgres'];
const MYSQL_TYPES = ['mysql', 'mariadb', 'aurora-mysql'];

/**
 * The dialect for a TypeORM data source `type`: `postgres` (and `aurora-postgres`) →
 * `postgres({ schema, table })`; `mysql`, `mariadb` (and `aurora-mysql`) →
 * `mysql({ database, table })`. The one place that knows which databases this package speaks;
 * everything else asks the dialect (`name`, `capabilities`).
 *
 * @example
 * ```ts
 * const store = new SqlMessageStore({
 *   dialect: dialectFor(dataSource.options.type, { database: 'app' }),
 *   db: typeormExecutor(dataSource),
 * });
 * ```
 * @throws OutboxError `INVALID_OPTION` for a driver this package does not support, an option
 * that is not one of {@link TypeormOutboxOptions}, or a `schema` on MySQL / a `database` on
 * PostgreSQL (the table would silently land elsewhere)
 */
export function dialectFor(type: string, options: TypeormOutboxOptions): Dialect {
  // Any option of this package's writers is accepted (one options object may serve the
  // subscriber, addMessage and the store); a name that is none of them is a typo that would
  // otherwise put the table somewhere else.
  checkOptions(options, 'dialectFor', SUBSCRIBER_OPTIONS);
  if (options.dialect) return options.dialect;
  if (POSTGRES_TYPES.includes(type)) {
    if (options.database !== undefined) {
      throw new OutboxError(
        'INVALID_OPTION',
        `on PostgreSQL the outbox table lives in a schema: use \`schema\`, not \`database\` ("${options.database}")`,
      );
    }
    return postgres({ schema: options.schema, table: options.table });
  }
  if (MYSQL_TYPES.includes(type)) {
    if (options.schema !== undefined) {
      throw new OutboxError(
        'INVALID_OPTION',
        `on MySQL the outbox table lives in a database: use \`database\`, not \`schema\` ("${options.schema}")`,
      );
    }
    return mysql({ database: options.database, table: options.table });
  }
  throw new OutboxError(
    'INVALID_OPTION',
    `@troutbox/typeorm does not support the TypeORM driver "${type}" (supported: ${[...POSTGRES_TYPES, ...MYSQL_TYPES].join(', ')})`,
  );
}

function pick<O extends object>(options: O, keys: readonly string[]): Partial<O> {
  return Object.fromEntries(Object.entries(options).filter(([key]) => keys.includes(key))) as Partial<O>;
}

/** Outboxes by data source type, created once per options object. */
export class OutboxCache {
  readonly #options: TypeormOutboxOptions;
  readonly #byType = new Map<string, Outbox>();

  constructor(options: TypeormOutboxOptions) {
    this.#options = options;
  }

  get options(): TypeormOutboxOptions {
    return this.#options;
  }

  for(type: string): Outbox {
    let outbox = this.#byType.get(type);
    if (!outbox) {
      outbox = createOutbox({
        dialect: dialectFor(type, pick(this.#options, TABLE_OPTIONS)),
        limits: this.#options.limits ?? {},
        autocommit: this.#options.autocommit === true,
      });
      this.#byType.set(type, outbox);
    }
    return outbox;
  }
}
