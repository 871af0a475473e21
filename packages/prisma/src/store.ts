import { SqlMessageStore } from '@troutbox/core';
import {
  EXECUTOR_OPTIONS,
  type PrismaClientLike,
  type PrismaExecutorOptions,
  prismaExecutor,
} from './executor.js';
import { checkOptionNames, type PrismaOutboxTableOptions, resolveDialect, TABLE_OPTIONS } from './options.js';

/** Options of {@link prismaStore}: where the table is, and how transactions are opened. */
export interface PrismaStoreOptions extends PrismaOutboxTableOptions, PrismaExecutorOptions {
  /** Rows a bulk requeue or purge touches per statement. @defaultValue 5000 */
  adminBatchSize?: number;
  /**
   * Accept `store.add(prismaRaw(prisma), …)` through the root client, outside a transaction: each
   * such write commits on its own. Off by default: refused with `NOT_IN_TRANSACTION` before any
   * SQL; `store.add(prismaRaw(tx), …)` inside `prisma.$transaction` is always accepted.
   * @defaultValue false
   */
  autocommit?: boolean;
}

const STORE_OPTIONS = [...TABLE_OPTIONS, ...EXECUTOR_OPTIONS, 'adminBatchSize', 'autocommit'] as const;

/**
 * The outbox store over a Prisma client, for the relay and the admin API (dead letters, stats,
 * purge). Transactions are Prisma interactive transactions; no other driver is needed.
 * Give it the same `schema`/`table` (or dialect) as {@link outbox}.
 *
 * @example
 * ```ts
 * const relay = createRelay({ store: prismaStore(prisma), sender: mySender, batchSize: 200 });
 * await relay.start();
 * // … on shutdown:
 * await relay.stop();
 * ```
 */
export function prismaStore(client: PrismaClientLike, options: PrismaStoreOptions = {}): SqlMessageStore {
  const dialect = resolveDialect(options);
  checkOptionNames(options, STORE_OPTIONS, 'prismaStore');
  const { timeoutMs, maxWaitMs, isolationLevel, limits, adminBatchSize, autocommit } = options;
  return new SqlMessageStore({
    dialect,
    db: prismaExecutor(client, { timeoutMs, maxWaitMs, isolationLevel }),
    limits,
    adminBatchSize,
    autocommit,
  });
}
