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

// Cached per class: every addMessage call asks, and the answer depends only on the class.
const byClass = new WeakMap<object, DrizzleDialect>();

/**
 * The kind of a drizzle database or transaction, from drizzle's `entityKind` marks along its
 * class chain (a `Symbol.for` brand, so a second copy of drizzle-orm is recognised too).
 * Throws `INVALID_OPTION` for anything else.
 */
export function drizzleDialectOf(db: unknown): DrizzleDialect {
  const d = db as { execute?: unknown; transaction?: unknown } | null | undefined;
  if (typeof d?.execute === 'function' && typeof d.transaction === 'function') {
    const cls = (d as { constructor?: object }).constructor;
    const cached = cls && byClass.get(cls);
    if (cached) return cached;
    for (let c = cls as { [entityKind]?: unknown } | null; c; c = Object.getPrototypeOf(c)) {
      const kind = Object.hasOwn(c, entityKind) ? c[entityKind] : undefined;
      const found = typeof kind === 'string' && Object.hasOwn(dialects, kind) ? dialects[kind] : undefined;
      if (found) {
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
