import { type Migration, OutboxError } from '@troutbox/core';
import type { QueryRunnerLike } from './handles.js';
import { checkOptions, dialectFor, TABLE_OPTIONS, type TypeormOutboxOptions } from './options.js';

/** Options of {@link createOutboxMigrations}. */
export interface OutboxMigrationOptions
  extends Pick<TypeormOutboxOptions, 'schema' | 'database' | 'table' | 'dialect'> {
  /**
   * The database the migrations are for, as TypeORM's data source `type` (`'postgres'`,
   * `'mysql'`, `'mariadb'`, …).
   * @defaultValue `'postgres'`
   */
  type?: string;
  /**
   * Timestamp of the first migration; migration `n` gets `timestamp + n - 1`. TypeORM orders
   * migrations by the 13-digit timestamp at the end of their names: pick one that places the
   * outbox where you want it among your own migrations.
   * @defaultValue `1767225600000` (2026-01-01T00:00:00Z)
   */
  timestamp?: number;
}

/** A TypeORM `MigrationInterface` for one of core's numbered outbox migrations. */
export interface OutboxMigration {
  /**
   * `TroutboxCreateOutbox.<schema or database>.<table>.<timestamp>` (no middle part on MySQL
   * without `database`): unique per table and migration, ending in the 13-digit timestamp
   * TypeORM wants.
   */
  readonly name: string;
  up(queryRunner: QueryRunnerLike & SchemaQueryRunnerLike): Promise<void>;
  down(queryRunner: QueryRunnerLike & SchemaQueryRunnerLike): Promise<void>;
}

/** A TypeORM migration class: TypeORM constructs it with no arguments. */
export type OutboxMigrationClass = new () => OutboxMigration;

/** The schema calls of a TypeORM `QueryRunner` that the migrations use. */
export interface SchemaQueryRunnerLike {
  /** PostgreSQL: the outbox's schema. */
  createSchema(schemaPath: string, ifNotExists?: boolean): Promise<void>;
  /** MySQL: the outbox's database, when one is named. */
  createDatabase(database: string, ifNotExists?: boolean): Promise<void>;
}

const DEFAULT_TIMESTAMP = 1_767_225_600_000;

function pascal(name: string): string {
  return name
    .split('_')
    .filter(Boolean)
    .map((part) => part[0]!.toUpperCase() + part.slice(1))
    .join('');
}

// Identifiers cannot contain dots, so `schema.table` keeps two outboxes' names apart.
/**
 * TypeORM migration classes for the outbox table, one per core migration, each running core's
 * rendered SQL (`postgres({ schema, table }).migrations()`, or `mysql({ database, table })`
 * with `type: 'mysql'` / `'mariadb'`): `up()` creates (or upgrades) the table and its indexes,
 * `down()` undoes it. Run them with `dataSource.runMigrations()` or the TypeORM CLI, next to
 * your own migrations.
 *
 * Use either these migrations or core's `migrate()` for a table, not both: each keeps its own
 * record of what it applied.
 *
 * @example
 * ```ts
 * const dataSource = new DataSource({
 *   type: 'postgres',
 *   url,
 *   migrations: [...createOutboxMigrations({ schema: 'app' }), CreateOrders1767000000000],
 * });
 * await dataSource.initialize();
 * await dataSource.runMigrations();
 * ```
 */
export function createOutboxMigrations(options: OutboxMigrationOptions = {}): OutboxMigrationClass[] {
  const { type = 'postgres', timestamp = DEFAULT_TIMESTAMP, ...rest } = options;
  const checked = checkOptions(rest, 'createOutboxMigrations', TABLE_OPTIONS);
  if (!Number.isSafeInteger(timestamp) || String(timestamp).length !== 13) {
    throw new OutboxError('INVALID_OPTION', 'createOutboxMigrations: timestamp must be a 13-digit integer');
  }
  const dialect = dialectFor(type, checked);
  const table = checked.table ?? 'outbox_messages';
  // Where the table lives, created by the first migration as core's migrate() would: a schema
  // on PostgreSQL (public by default), a database on MySQL only when one is named (otherwise
  // the connection's own).
  const container: Container | undefined =
    dialect.name === 'mysql'
      ? checked.database === undefined
        ? undefined
        : { kind: 'database', name: checked.database }
      : { kind: 'schema', name: checked.schema ?? 'public' };
  return dialect.migrations().map((migration) => migrationClass(migration, container, table, timestamp));
}

interface Container {
  kind: 'schema' | 'database';
  name: string;
}

function migrationClass(
  migration: Migration,
  container: Container | undefined,
  table: string,
  timestamp: number,
): OutboxMigrationClass {
  const where = container ? `${container.name}.` : '';
  const name = `Troutbox${pascal(migration.name)}.${where}${table}.${timestamp + migration.version - 1}`;
  const run = async (queryRunner: QueryRunnerLike, statements: readonly string[]) => {
    for (const sql of statements) await queryRunner.query(sql, [], true);
  };
  return class implements OutboxMigration {
    readonly name = name;
    async up(queryRunner: QueryRunnerLike & SchemaQueryRunnerLike): Promise<void> {
      // Core's migrate() creates the schema (database) before its first migration; here
      // TypeORM's own call does, so the migration needs no SQL of this package.
      if (migration.version === 1 && container?.kind === 'schema')
        await queryRunner.createSchema(container.name, true);
      if (migration.version === 1 && container?.kind === 'database')
        await queryRunner.createDatabase(container.name, true);
      await run(queryRunner, migration.up);
    }
    async down(queryRunner: QueryRunnerLike & SchemaQueryRunnerLike): Promise<void> {
      await run(queryRunner, migration.down);
    }
  };
}
