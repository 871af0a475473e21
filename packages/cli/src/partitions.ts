import type {
  PartitionMaintenanceOptions,
  PartitionMaintenanceReport,
  ResolvedPartitionOptions,
} from '@troutbox/core';
import { CliError } from './cli-error.js';
import type { OutboxConnection } from './connection.js';

/** One partition of a partitioned outbox table, as `partitions` prints it. */
export interface PartitionInfo {
  readonly name: string;
  /** `range` (made by maintenance), `default`, or `foreign` (any other child: never dropped). */
  readonly kind: 'range' | 'default' | 'foreign';
  /** Lower bound (inclusive) as an ISO timestamp; null for the default partition. */
  readonly from: string | null;
  /** Upper bound (exclusive); null for the default partition. */
  readonly to: string | null;
  /** Rows as the planner estimates them (`pg_class.reltuples`); null before the first ANALYZE. */
  readonly estimatedRows: number | null;
  /** Exact counts of pending and dead rows, which maintenance never drops. */
  readonly pending: number;
  readonly dead: number;
  readonly pastRetention: boolean;
  /** The next maintenance run will drop it (moving its pending and dead rows into DEFAULT). */
  readonly droppable: boolean;
}

/** What `status` and `partitions` report. */
export interface PartitionReport {
  readonly partitioned: boolean;
  /** The configuration stored with the table; null for a plain table. */
  readonly options: ResolvedPartitionOptions | null;
  /** Ranges ending at or before this instant are past retention. */
  readonly retentionCutoff: string | null;
  /** Empty for a plain table, or where the partitions cannot be listed. */
  readonly partitions: readonly PartitionInfo[];
  /** Why the list is empty when the table is partitioned. */
  readonly note?: string;
}

/** What one maintenance run did: core's report. */
export type MaintenanceReport = PartitionMaintenanceReport;

/** Where `partitions` and `status` get partition facts and maintenance from. */
export interface PartitionSource {
  list(): Promise<PartitionReport>;
  maintain(options: PartitionMaintenanceOptions): Promise<MaintenanceReport>;
}

const iso = (d: Date | null) => d?.toISOString() ?? null;

/** The partition source for an open outbox table: core's partition API. */
export function partitionSource(connection: OutboxConnection): PartitionSource {
  const { store, dialect } = connection;
  return {
    async list() {
      if (!dialect.partitions) {
        // Asked of the catalogue, not assumed: a table partitioned by hand is not reported as plain.
        const { partitioned } = await store.tableStatus();
        return {
          partitioned,
          options: null,
          retentionCutoff: null,
          partitions: [],
          ...(partitioned ? { note: `troutbox does not manage partitions on ${dialect.name}` } : {}),
        };
      }
      const listing = await store.partitions();
      return {
        partitioned: listing.partitioned,
        options: listing.options,
        retentionCutoff: iso(listing.retentionCutoff),
        partitions: listing.partitions.map((p) => ({ ...p, from: iso(p.from), to: iso(p.to) })),
      };
    },
    async maintain(options) {
      if (!dialect.partitions) {
        throw new CliError(
          'USAGE',
          `partition maintenance is a PostgreSQL feature; ${dialect.tableName} is a ${dialect.name} table`,
          {
            hint: 'keep a MySQL table small with core’s store.pruneSent() on a schedule',
          },
        );
      }
      if (!(await store.tableStatus()).partitioned) {
        throw new CliError(
          'USAGE',
          `${dialect.tableName} is a plain table: there are no partitions to maintain`,
          {
            hint: 'partitioned tables are created with troutbox migrate --partitioned; plain ones are kept small with store.pruneSent()',
          },
        );
      }
      return store.maintainPartitions(options);
    },
  };
}
