import { fileURLToPath } from 'node:url';
import { advisoryLockKey, type Migration, mysql, postgres, quoteMysql, quotePg } from '@troutbox/core';
import { databaseName, type MySqlOutboxTableOptions } from './mysql-schema.js';
import { checkOptionNames } from './options.js';
import { type OutboxTableOptions, schemaName } from './schema.js';

/** One entry of drizzle's `meta/_journal.json`. */
export interface JournalEntry {
  readonly idx: number;
  readonly version: string;
  readonly when: number;
  readonly tag: string;
  readonly breakpoints: boolean;
}

/** drizzle's `meta/_journal.json`, as `migrate()` reads it. */
export interface Journal {
  readonly version: string;
  readonly dialect: 'postgresql' | 'mysql';
  readonly entries: readonly JournalEntry[];
}

/** A migrations folder for drizzle's `migrate()`: the journal and one SQL file per entry. */
export interface DrizzleMigrations {
  readonly journal: Journal;
  /** `<tag>.sql` file contents, by tag. */
  readonly files: Readonly<Record<string, string>>;
}

const JOURNAL_VERSION = '7';
// drizzle's migrate() applies the entries whose `when` is later than the newest it recorded,
// so `when` must grow with the version and never change once released.
const FIRST_WHEN = Date.UTC(2025, 10, 28);
const BREAKPOINT = '\n--> statement-breakpoint\n';

function tagOf(version: number, name: string): string {
  const label = version === 1 ? 'outbox' : name;
  return `${String(version - 1).padStart(4, '0')}_troutbox_${label}`;
}

// One drizzle migration per core migration: `before` and `after` wrap core's statements.
function render(
  migrations: readonly Migration[],
  journalDialect: Journal['dialect'],
  tableName: string,
  wrap: (m: Migration) => { before: string[]; after: string[] },
): DrizzleMigrations {
  const entries: JournalEntry[] = [];
  const files: Record<string, string> = {};
  for (const m of migrations) {
    const tag = tagOf(m.version, m.name);
    entries.push({
      idx: m.version - 1,
      version: JOURNAL_VERSION,
      when: FIRST_WHEN + (m.version - 1) * 1000,
      tag,
      breakpoints: true,
    });
    const header = `-- troutbox migration ${m.version} (${m.name}) for ${tableName}, generated from
-- @troutbox/core by @troutbox/drizzle's scripts/generate-migrations.ts. Do not edit.
`;
    const { before, after } = wrap(m);
    const statements = [...before, ...m.up, ...after];
    files[tag] = `${header}${statements.map((s) => `${s};`).join(BREAKPOINT)}\n`;
  }
  return { journal: { version: JOURNAL_VERSION, dialect: journalDialect, entries }, files };
}

/**
 * Render core's PostgreSQL migrations as a drizzle migrations folder (journal and SQL files),
 * for the given schema and table. The package ships this for the default names in its
 * `drizzle/` folder; `pnpm generate:migrations --schema app --table outbox --out <dir>` writes
 * it for others.
 *
 * Each file first takes the advisory lock core's `migrate()` takes, so two processes running
 * `migrate()` at once (or drizzle's and core's) wait for each other instead of racing on
 * `CREATE TABLE`.
 *
 * @example
 * ```ts
 * const { journal, files } = drizzleMigrations({ schema: 'app' });
 * ```
 */
export function drizzleMigrations(options: OutboxTableOptions = {}): DrizzleMigrations {
  checkOptionNames('drizzleMigrations', options, ['schema', 'table']);
  const schema = schemaName(options.schema);
  const dialect = postgres({ schema, table: options.table });
  const lock = `SELECT pg_advisory_xact_lock(${advisoryLockKey(`troutbox:migrate:${schema}`)})`;
  return render(dialect.migrations(), 'postgresql', dialect.tableName, (m) => ({
    // Core's migrate() creates the schema before it runs migration 1; a drizzle folder has to
    // say so itself.
    before: [
      lock,
      ...(m.version === 1 && schema !== 'public' ? [`CREATE SCHEMA IF NOT EXISTS ${quotePg(schema)}`] : []),
    ],
    after: [],
  }));
}

/**
 * Render core's MySQL / MariaDB migrations (`mysql().migrations()`) as a drizzle migrations
 * folder for drizzle's mysql `migrate()`, for the given database and table. The package ships
 * this for the default names in its `drizzle-mysql/` folder;
 * `pnpm generate:migrations --dialect mysql --database app --table outbox --out <dir>` writes it
 * for others.
 *
 * MySQL has no transaction-scoped lock, so each file takes the named lock core's `migrate()`
 * takes (`GET_LOCK`, waiting up to 60 s) and releases it at its end: drizzle's and core's
 * migrations wait for each other. If a statement fails, drizzle's connection keeps the lock
 * until it closes; core's statements are written to be re-run, so a second attempt is safe.
 *
 * @example
 * ```ts
 * const { journal, files } = mysqlDrizzleMigrations({ database: 'app' });
 * ```
 */
export function mysqlDrizzleMigrations(options: MySqlOutboxTableOptions = {}): DrizzleMigrations {
  checkOptionNames('mysqlDrizzleMigrations', options, ['database', 'table']);
  const database = databaseName(options.database);
  const dialect = mysql({ database, table: options.table });
  // The lock name core's mysql().migrate() takes; identifiers are validated, so it is safe text.
  const lockName = `'troutbox:migrate:${database ?? ''}.${options.table ?? 'outbox_messages'}'`;
  return render(dialect.migrations(), 'mysql', dialect.tableName, (m) => ({
    before: [
      `SELECT GET_LOCK(${lockName}, 60)`,
      // Core's migrate() creates the database before it runs migration 1.
      ...(m.version === 1 && database ? [`CREATE DATABASE IF NOT EXISTS ${quoteMysql(database)}`] : []),
    ],
    after: [`SELECT RELEASE_LOCK(${lockName})`],
  }));
}

/**
 * The folder of SQL migrations shipped in this package, for `public.outbox_messages`, in
 * drizzle's `migrate()` format. {@link outboxMigrations} pairs it with its own bookkeeping table.
 *
 * @example
 * ```ts
 * await migrate(db, { migrationsFolder, migrationsTable: '__troutbox_migrations' });
 * ```
 */
export const migrationsFolder: string = fileURLToPath(new URL('../drizzle', import.meta.url));

/**
 * Options for drizzle's `migrate()` that apply the shipped outbox migrations. They keep their
 * own bookkeeping table: drizzle applies only the entries newer than the newest it recorded, so
 * sharing your app's table would skip them.
 *
 * @example
 * ```ts
 * import { migrate } from 'drizzle-orm/node-postgres/migrator';
 * import { outboxMigrations } from '@troutbox/drizzle';
 * await migrate(db, outboxMigrations);
 * ```
 */
export const outboxMigrations: { readonly migrationsFolder: string; readonly migrationsTable: string } =
  Object.freeze({ migrationsFolder, migrationsTable: '__troutbox_migrations' });

/**
 * The folder of MySQL / MariaDB migrations shipped in this package, for `outbox_messages` in the
 * connection's database, in drizzle's mysql `migrate()` format. {@link mysqlOutboxMigrations}
 * pairs it with its own bookkeeping table.
 *
 * @example
 * ```ts
 * await migrate(db, { migrationsFolder: mysqlMigrationsFolder, migrationsTable: '__troutbox_migrations' });
 * ```
 */
export const mysqlMigrationsFolder: string = fileURLToPath(new URL('../drizzle-mysql', import.meta.url));

/**
 * Options for drizzle's mysql `migrate()` that apply the shipped MySQL outbox migrations, with
 * their own bookkeeping table (in the connection's database).
 *
 * @example
 * ```ts
 * import { migrate } from 'drizzle-orm/mysql2/migrator';
 * import { mysqlOutboxMigrations } from '@troutbox/drizzle';
 * await migrate(db, mysqlOutboxMigrations);
 * ```
 */
export const mysqlOutboxMigrations: {
  readonly migrationsFolder: string;
  readonly migrationsTable: string;
} = Object.freeze({ migrationsFolder: mysqlMigrationsFolder, migrationsTable: '__troutbox_migrations' });
