import { type Dialect, mysql, OutboxError, postgres, type QueryResult } from '@troutbox/core';
import { entityKind } from 'drizzle-orm';
import type { MySqlDatabase } from 'drizzle-orm/mysql-core';
import type { PgDatabase } from 'drizzle-orm/pg-core';
import type { PlaceholderStyle } from './sql.js';

/**
 * Any PostgreSQL drizzle database or transaction: node-postgres, postgres-js, PGlite, Neon,
 * Vercel… A `PgTransaction` is a `PgDatabase`, so a transaction fits wherever a database does.
 */
export type DrizzlePgDatabase = PgDatabase<any, any, any>;

/**
 * Any MySQL or MariaDB drizzle database or transaction (`drizzle-orm/mysql2`, and its `tx`).
 * A `MySqlTransaction` is a `MySqlDatabase`.
 */
export type DrizzleMySqlDatabase = MySqlDatabase<any, any, any, any>;

/** A drizzle database or transaction troutbox can write to. */
export type DrizzleDatabase = DrizzlePgDatabase | DrizzleMySqlDatabase;

/** Where the outbox table is: a schema on PostgreSQL, a database on MySQL. */
export interface TableLocation {
  readonly namespace: string | undefined;
  readonly table: string | undefined;
}

/** What troutbox needs to know about one kind of drizzle database. */
export interface DrizzleDialect {
  /** Core's dialect name. */
  readonly name: 'postgres' | 'mysql';
  /** Core's dialect for a table. */
  dialect(location: TableLocation): Dialect;
  readonly placeholders: PlaceholderStyle;
  /** Rows and a row count from what `db.execute()` returns on this database's drivers. */
  result<Row>(raw: unknown): QueryResult<Row>;
}

// PostgreSQL drivers differ: node-postgres `{ rows, rowCount }`, PGlite `{ rows, affectedRows }`,
// postgres-js an array of rows with `count`.
function pgResult<Row>(raw: unknown): QueryResult<Row> {
  if (Array.isArray(raw)) {
    const count = (raw as { count?: unknown }).count;
    return { rows: raw as Row[], rowCount: typeof count === 'number' ? count : raw.length };
  }
  const r = (raw ?? {}) as { rows?: Row[]; rowCount?: number | null; affectedRows?: number };
  const rows = Array.isArray(r.rows) ? r.rows : [];
  return { rows, rowCount: r.rowCount ?? r.affectedRows ?? rows.length };
}

// mysql2 gives `[rows, fields]` for a SELECT and `[ResultSetHeader, undefined]` for a write.
function mysqlResult<Row>(raw: unknown): QueryResult<Row> {
  const first = Array.isArray(raw) ? raw[0] : raw;
  if (Array.isArray(first)) return { rows: first as Row[], rowCount: first.length };
  const affected = (first as { affectedRows?: unknown } | null | undefined)?.affectedRows;
  return { rows: [], rowCount: typeof affected === 'number' ? affected : 0 };
}

/**
 * The databases this package knows, by drizzle's entity kind of their database class (a
 * transaction class extends it). The one place that maps a drizzle database to core's dialect.
 */
const dialects: Readonly<Record<string, DrizzleDialect>> = {
  PgDatabase: {
    name: 'postgres',
    dialect: ({ namespace, table }) => postgres({ schema: namespace, table }),
    placeholders: 'dollar',
    result: pgResult,
  },
  MySqlDatabase: {
    name: 'mysql',
    dialect: ({ namespace, table }) => mysql({ database: namespace, table }),
    placeholders: 'question',
    result: mysqlResult,
  },
};

/** What a drizzle handle's class says: its database, and whether it is a transaction's. */
interface DrizzleClass {
  readonly dialect: DrizzleDialect;
  /**
   * A transaction class (`PgTransaction`, `MySqlTransaction`, and every driver's subclass):
   * drizzle creates one for the callback of `db.transaction(cb)` (or of `tx.transaction(cb)`, a
   * savepoint), after its BEGIN. Any other class is a root database, where each statement
   * commits on its own.
   */
  readonly transaction: boolean;
}

const TRANSACTION_KINDS: readonly string[] = ['PgTransaction', 'MySqlTransaction'];

/**
 * drizzle's `entityKind` marks along the class chain of `value`, most derived first. The mark is
 * a `Symbol.for` brand, so classes from a second copy of drizzle-orm are read the same way, and
 * nothing of drizzle is needed at run time to recognise them.
 */
function* entityKinds(value: unknown): Generator<string> {
  if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return;
  const cls = (value as { constructor?: unknown }).constructor;
  for (let c = cls as { [entityKind]?: unknown } | null; c; c = Object.getPrototypeOf(c)) {
    const kind = Object.hasOwn(c, entityKind) ? c[entityKind] : undefined;
    if (typeof kind === 'string') yield kind;
  }
}

/**
 * True when `value` is an instance of drizzle's class `kind` or of a subclass (what drizzle's
 * own `is(value, Class)` checks), e.g. `hasEntityKind(schema, 'PgSchema')`.
 */
export function hasEntityKind(value: unknown, kind: string): boolean {
  for (const k of entityKinds(value)) if (k === kind) return true;
  return false;
}

// Cached per class: every addMessage call asks, and the answer depends only on the class.
const byClass = new WeakMap<object, DrizzleClass>();

function classify(db: unknown): DrizzleClass {
  const d = db as { execute?: unknown; transaction?: unknown } | null | undefined;
  if (typeof d?.execute === 'function' && typeof d.transaction === 'function') {
    const cls = (d as { constructor?: object }).constructor;
    const cached = cls && byClass.get(cls);
    if (cached) return cached;
    let transaction = false;
    for (const kind of entityKinds(d)) {
      if (TRANSACTION_KINDS.includes(kind)) transaction = true;
      const dialect = Object.hasOwn(dialects, kind) ? dialects[kind] : undefined;
      if (dialect) {
        const found = { dialect, transaction };
        byClass.set(cls!, found);
        return found;
      }
    }
  }
  throw new OutboxError(
    'INVALID_OPTION',
    'expected a drizzle PostgreSQL or MySQL database or transaction (drizzle(pool), or the tx of db.transaction)',
  );
}

/**
 * The kind of a drizzle database or transaction, from drizzle's `entityKind` marks along its
 * class chain. Throws `INVALID_OPTION` for anything else.
 */
export function drizzleDialectOf(db: unknown): DrizzleDialect {
  return classify(db).dialect;
}

/**
 * True for the `tx` drizzle gives a transaction's callback (and a savepoint's), false for a root
 * database. Throws `INVALID_OPTION` for anything that is neither.
 */
export function isDrizzleTransaction(db: unknown): boolean {
  return classify(db).transaction;
}
