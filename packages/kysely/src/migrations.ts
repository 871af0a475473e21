import { type Migration as CoreMigration, type Dialect, OutboxError } from '@troutbox/core';
import type { Kysely } from 'kysely';
import { type OutboxDialectOptions, resolveDialect } from './dialect.js';
import { kyselyExecutor } from './executor.js';

/** A Kysely migration (the shape of `Migration` from `kysely/migration`). */
export interface KyselyMigration {
  up(db: Kysely<any>): Promise<void>;
  down?(db: Kysely<any>): Promise<void>;
}

/** A Kysely migration provider (the shape of `MigrationProvider` from `kysely/migration`). */
export interface KyselyMigrationProvider {
  getMigrations(): Promise<Record<string, KyselyMigration>>;
}

/** The outbox's migration provider; its migrations carry `up` and `down`. */
export interface OutboxMigrationProvider extends KyselyMigrationProvider {
  getMigrations(): Promise<Record<string, Required<KyselyMigration>>>;
}

/**
 * Table names for a `Migrator` that runs only the outbox's migrations, so its history stays
 * apart from the application's `kysely_migration`.
 *
 * @example
 * ```ts
 * new Migrator({ db, provider: outboxMigrations(), ...outboxMigratorTables });
 * ```
 */
export const outboxMigratorTables = Object.freeze({
  migrationTableName: 'troutbox_migration',
  migrationLockTableName: 'troutbox_migration_lock',
} as const);

/** `0001_create_outbox`: zero-padded so that Kysely's name order is the version order. */
function migrationName(m: CoreMigration): string {
  return `${String(m.version).padStart(4, '0')}_${m.name}`;
}

/**
 * The outbox table's migrations as a Kysely `MigrationProvider`: core's numbered migrations
 * for the schema and table, named `0001_create_outbox`, … Each `up` and `down` runs core's
 * statements on the migrator's connection (in its transaction on PostgreSQL). The first also
 * creates a `schema` named in the options if it is missing (a core `Dialect` given as `dialect`
 * needs its schema to exist); `down` drops the table but never the schema. Takes the options of
 * {@link kyselyOutbox} that shape the table (`partitioned` makes a partitioned one); an unknown
 * option name is an `INVALID_OPTION` error.
 *
 * Run it with its own `Migrator` and history table ({@link outboxMigratorTables}), or merge it
 * into the application's provider with {@link mergeMigrationProviders}.
 *
 * @example
 * ```ts
 * import { Migrator } from 'kysely/migration';
 * const migrator = new Migrator({
 *   db,
 *   provider: outboxMigrations({ schema: 'app', table: 'outbox' }),
 *   ...outboxMigratorTables,
 * });
 * const { error } = await migrator.migrateToLatest();
 * if (error) throw error;
 * ```
 */
export function outboxMigrations(options: OutboxDialectOptions = {}): OutboxMigrationProvider {
  const { dialect, schema } = resolveDialect(options, 'outboxMigrations', []);
  return migrationsFor(dialect, schema);
}

/** The migrations of `dialect`'s table; the first creates `schema` when one is named. */
export function migrationsFor(dialect: Dialect, schema: string | undefined): OutboxMigrationProvider {
  const migrations: Record<string, Required<KyselyMigration>> = {};
  for (const m of dialect.migrations()) {
    migrations[migrationName(m)] = Object.freeze({
      async up(db: Kysely<any>) {
        const tx = kyselyExecutor(db);
        // Core creates the schema in its own migrate(); here Kysely's schema builder does it (quoted).
        if (m.version === 1 && schema !== undefined && schema !== 'public') {
          await db.withoutPlugins().schema.createSchema(schema).ifNotExists().execute();
        }
        for (const sql of m.up) await tx.query(sql);
      },
      async down(db: Kysely<any>) {
        const tx = kyselyExecutor(db);
        for (const sql of m.down) await tx.query(sql);
      },
    });
  }
  Object.freeze(migrations);
  return { getMigrations: async () => migrations };
}

/**
 * Merge migration providers into one, each source's names prefixed by its key, for one
 * `Migrator` and one history table. Use `''` for the application's own provider when its
 * migrations already ran under their bare names. Two sources must never yield the same name.
 *
 * Kysely runs migrations in name order and, by default, refuses a new migration whose name sorts
 * before one already run. With two independent sequences that happens as soon as either grows,
 * so a merged `Migrator` needs `allowUnorderedMigrations: true` (each source still runs in its
 * own order). A separate `Migrator` with {@link outboxMigratorTables} avoids the question.
 *
 * @example
 * ```ts
 * const migrator = new Migrator({
 *   db,
 *   provider: mergeMigrationProviders({
 *     '': new FileMigrationProvider({ fs, path, migrationFolder }),
 *     'troutbox/': outboxMigrations(),
 *   }),
 *   allowUnorderedMigrations: true,
 * });
 * ```
 */
export function mergeMigrationProviders(
  providers: Readonly<Record<string, KyselyMigrationProvider>>,
): KyselyMigrationProvider {
  const entries = Object.entries(providers ?? {});
  for (const [prefix, provider] of entries) {
    if (typeof provider?.getMigrations !== 'function') {
      throw new OutboxError(
        'INVALID_OPTION',
        `mergeMigrationProviders: ${JSON.stringify(prefix)} is not a migration provider (no getMigrations())`,
      );
    }
  }
  return {
    async getMigrations() {
      const merged: Record<string, KyselyMigration> = {};
      const from = new Map<string, string>();
      for (const [prefix, provider] of entries) {
        for (const [name, migration] of Object.entries(await provider.getMigrations())) {
          const full = `${prefix}${name}`;
          if (from.has(full)) {
            throw new OutboxError(
              'INVALID_OPTION',
              `mergeMigrationProviders: migration ${JSON.stringify(full)} comes from both ${JSON.stringify(from.get(full))} and ${JSON.stringify(prefix)}; give them distinct prefixes`,
            );
          }
          from.set(full, prefix);
          merged[full] = migration;
        }
      }
      return merged;
    },
  };
}
