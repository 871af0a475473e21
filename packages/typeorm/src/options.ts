import {
  createOutbox,
  type Dialect,
  type MessageLimits,
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
  /** Schema of the outbox table. @defaultValue `'public'` */
  schema?: string;
  /** Name of the outbox table. @defaultValue `'outbox_messages'` */
  table?: string;
  /** Limits checked before anything is written. @defaultValue core's `defaultMessageLimits` */
  limits?: Partial<MessageLimits>;
  /**
   * The dialect to write with, instead of the one picked from the data source's `type`
   * (`postgres` → `postgres({ schema, table })`). `schema` and `table` are then ignored.
   */
  dialect?: Dialect;
}

const KNOWN = ['schema', 'table', 'limits', 'dialect'];

/** Check options once, up front, so a bad name fails at start-up rather than on the first save. */
export function checkOptions<O extends TypeormOutboxOptions>(
  options: O | undefined,
  where: string,
  extraKeys: readonly string[] = [],
): O {
  if (options === undefined) return {} as O;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new OutboxError('INVALID_OPTION', `${where}: options must be an object`);
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN.includes(key) && !extraKeys.includes(key)) {
      throw new OutboxError('INVALID_OPTION', `${where}: unknown option "${key}"`);
    }
  }
  if (options.schema !== undefined) validateIdentifier(options.schema, 'schema');
  if (options.table !== undefined) validateIdentifier(options.table, 'table');
  if (options.dialect !== undefined && typeof options.dialect?.insert !== 'function') {
    throw new OutboxError('INVALID_OPTION', `${where}: dialect must be a troutbox Dialect (postgres(), …)`);
  }
  resolveLimits(options.limits);
  return Object.freeze({ ...options });
}

/**
 * The dialect for a TypeORM data source `type`. The one place that knows which databases this
 * package speaks: a MySQL dialect slots in here as another case.
 *
 * @example
 * ```ts
 * const store = new SqlMessageStore({
 *   dialect: dialectFor(dataSource.options.type, { schema: 'app' }),
 *   db: typeormExecutor(dataSource),
 * });
 * ```
 * @throws OutboxError `INVALID_OPTION` for a driver this package does not support yet
 */
export function dialectFor(type: string, options: TypeormOutboxOptions): Dialect {
  if (options.dialect) return options.dialect;
  switch (type) {
    case 'postgres':
    case 'aurora-postgres':
      return postgres({ schema: options.schema, table: options.table });
    default:
      throw new OutboxError(
        'INVALID_OPTION',
        `@troutbox/typeorm does not support the TypeORM driver "${type}" yet (supported: postgres)`,
      );
  }
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
      outbox = createOutbox({ dialect: dialectFor(type, this.#options), limits: this.#options.limits ?? {} });
      this.#byType.set(type, outbox);
    }
    return outbox;
  }
}
