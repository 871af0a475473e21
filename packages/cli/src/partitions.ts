import { CliError } from './cli-error.js';
import type { OutboxConnection } from './connection.js';

/** One partition of a partitioned outbox table. */
export interface PartitionInfo {
  readonly name: string;
  /** Lower bound (inclusive) as an ISO timestamp; null for the default partition. */
  readonly from: string | null;
  /** Upper bound (exclusive); null for the default partition. */
  readonly to: string | null;
  readonly isDefault: boolean;
  /** Pending and dead rows, which maintenance never drops. */
  readonly pending: number | null;
  readonly dead: number | null;
}

/** What `status` and `partitions` report. */
export interface PartitionReport {
  readonly partitioned: boolean;
  /** Empty for a plain table, or where the partitions cannot be listed yet. */
  readonly partitions: readonly PartitionInfo[];
  /** Why the list is empty when the table is partitioned (an older CLI than the table). */
  readonly note?: string;
}

/** What one maintenance run did. */
export interface MaintenanceReport {
  readonly created: readonly string[];
  readonly dropped: readonly string[];
  /** Partitions past retention kept because they hold pending or dead messages. */
  readonly kept: readonly string[];
  /** False when another process held the maintenance lock, so this run did nothing. */
  readonly ran: boolean;
}

/**
 * Where `partitions` and `status` get partition facts and maintenance from. Today there is one
 * implementation, for tables core creates (plain); when core gains partitioned mode, add one
 * that calls core's partition API and pick it in {@link partitionSource}: the commands and
 * their output stay as they are.
 */
export interface PartitionSource {
  list(): Promise<PartitionReport>;
  maintain(): Promise<MaintenanceReport>;
}

/** The partition source for an open outbox table. */
export function partitionSource(connection: OutboxConnection): PartitionSource {
  return {
    async list() {
      // Asked of the catalogue, not assumed: a table partitioned by a newer troutbox (or by
      // hand) must never be reported as plain.
      if (!(await connection.admin.isPartitioned())) return { partitioned: false, partitions: [] };
      return {
        partitioned: true,
        partitions: [],
        note: 'this version of troutbox cannot list partitions yet',
      };
    },
    async maintain() {
      throw new CliError(
        'USAGE',
        `partition maintenance is not supported yet: ${connection.dialect.tableName} is managed as a plain table by this version of troutbox`,
      );
    },
  };
}
