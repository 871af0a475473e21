/**
 * troutbox for Prisma 7: a client extension that writes outbox messages in your interactive
 * transactions, an Executor and a store over the Prisma client for the relay, and the outbox
 * model and migration to copy into your Prisma project.
 * @packageDocumentation
 */
import { fileURLToPath } from 'node:url';
import type { DialectName } from './options.js';

export {
  type PrismaClientLike,
  type PrismaExecutorOptions,
  type PrismaRawClient,
  prismaExecutor,
  prismaRaw,
  type ResolvedPrismaExecutorOptions,
  resolvePrismaExecutorOptions,
} from './executor.js';
export {
  type OutboxClientMethods,
  type OutboxExtension,
  type OutboxMethod,
  type OutboxPromise,
  outbox,
  type PrismaOutboxOptions,
} from './extension.js';
export type { DialectName, PrismaOutboxTableOptions } from './options.js';
export { type PrismaStoreOptions, prismaStore } from './store.js';

/**
 * Absolute paths of the shipped outbox models, by database: `prisma/outbox.prisma` (PostgreSQL)
 * and `prisma/outbox.mysql.prisma` (MySQL, MariaDB), for scripts that copy the model into a
 * multi-file schema folder.
 *
 * @example
 * ```ts
 * await fs.copyFile(outboxModelPaths.mysql, 'prisma/schema/outbox.prisma');
 * ```
 */
export const outboxModelPaths: Readonly<Record<DialectName, string>> = Object.freeze({
  postgres: fileURLToPath(new URL('../prisma/outbox.prisma', import.meta.url)),
  mysql: fileURLToPath(new URL('../prisma/outbox.mysql.prisma', import.meta.url)),
});

/**
 * Absolute paths of the shipped migrations folders, by database: `migrations/` (PostgreSQL) and
 * `migrations-mysql/` (MySQL, MariaDB). Each sub-folder (`<timestamp>_troutbox_outbox/migration.sql`)
 * goes into your `prisma/migrations/`.
 *
 * @example
 * ```ts
 * await fs.cp(migrationsPaths.mysql, 'prisma/migrations', { recursive: true });
 * ```
 */
export const migrationsPaths: Readonly<Record<DialectName, string>> = Object.freeze({
  postgres: fileURLToPath(new URL('../migrations/', import.meta.url)),
  mysql: fileURLToPath(new URL('../migrations-mysql/', import.meta.url)),
});

/**
 * Absolute path of the shipped PostgreSQL `outbox.prisma` model (`outboxModelPaths.postgres`).
 *
 * @example
 * ```ts
 * await fs.copyFile(outboxModelPath, 'prisma/schema/outbox.prisma');
 * ```
 */
export const outboxModelPath: string = outboxModelPaths.postgres;

/**
 * Absolute path of the shipped PostgreSQL migrations folder (`migrationsPaths.postgres`).
 *
 * @example
 * ```ts
 * await fs.cp(migrationsPath, 'prisma/migrations', { recursive: true });
 * ```
 */
export const migrationsPath: string = migrationsPaths.postgres;
