/**
 * troutbox for Prisma 7: a client extension that writes outbox messages in your interactive
 * transactions, an Executor and a store over the Prisma client for the relay, and the outbox
 * model and migration to copy into your Prisma project.
 * @packageDocumentation
 */
import { fileURLToPath } from 'node:url';

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
  outbox,
  type PrismaOutboxOptions,
} from './extension.js';
export type { DialectName, PrismaOutboxTableOptions } from './options.js';
export { type PrismaStoreOptions, prismaStore } from './store.js';

/**
 * Absolute path of the shipped `outbox.prisma` model, for scripts that copy it into a
 * multi-file schema folder.
 *
 * @example
 * ```ts
 * await fs.copyFile(outboxModelPath, 'prisma/schema/outbox.prisma');
 * ```
 */
export const outboxModelPath: string = fileURLToPath(new URL('../prisma/outbox.prisma', import.meta.url));

/**
 * Absolute path of the shipped migrations folder; each sub-folder
 * (`<timestamp>_troutbox_outbox/migration.sql`) goes into your `prisma/migrations/`.
 *
 * @example
 * ```ts
 * await fs.cp(migrationsPath, 'prisma/migrations', { recursive: true });
 * ```
 */
export const migrationsPath: string = fileURLToPath(new URL('../migrations/', import.meta.url));
