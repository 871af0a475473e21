import {
  createRelay,
  type IntervalJob,
  type OutboxMessage,
  pgPool,
  postgres,
  type SendResult,
  SqlMessageStore,
  sent,
  startPartitionMaintenance,
  startPruning,
} from '@troutbox/core';
import type pg from 'pg';
import { newPool, schemaName, until } from './util.js';

// Partitioned vs plain table, same run, chunks interleaved (and the order alternated) so that
// drift in the machine's load hits both alike: insert a chunk of pending messages, ANALYZE (as
// autovacuum would, in time), drain it with one relay (no-op sender), while the table's
// retention job runs every 10 s — partition maintenance with one-minute partitions and
// retention 0 (a minute's partition is dropped once the minute is over), or pruneSent of
// messages sent more than a minute ago. Sizes are pg_total_relation_size over the table and all
// of its partitions (indexes and TOAST included), after the last chunk and again once one more
// retention window has passed.

export interface PartitionBenchRow {
  table: 'plain' | 'partitioned';
  messages: number;
  drainPerSec: number;
  /** Bytes of the table, partitions, indexes and TOAST after the last chunk. */
  sizeBytes: number;
  /** Rows still in the table after the last chunk (all sent). */
  rowsLeft: number;
  /** The same, once one more retention window has passed with the job running. */
  settledSizeBytes: number;
  settledRowsLeft: number;
  retentionNote: string;
}

const RETENTION_MS = 60_000;
const JOB_INTERVAL_MS = 10_000;

interface Lane {
  table: 'plain' | 'partitioned';
  schema: string;
  pool: pg.Pool;
  store: SqlMessageStore;
  job: IntervalJob;
  drainMs: number;
  delivered: number;
  relay: ReturnType<typeof createRelay>;
}

async function lane(table: Lane['table'], jobErrors: unknown[]): Promise<Lane> {
  const schema = schemaName(`part_${table}`);
  const pool = newPool(4);
  const dialect =
    table === 'plain'
      ? postgres({ schema })
      : postgres({ schema, partitioned: { interval: { minutes: 1 }, premake: 2, retention: 0 } });
  const store = new SqlMessageStore({ dialect, db: pgPool(pool) });
  await store.migrate();
  const onError = (e: unknown) => jobErrors.push(e);
  const job =
    table === 'plain'
      ? startPruning(store, {
          olderThanMs: RETENTION_MS,
          batchSize: 5000,
          intervalMs: JOB_INTERVAL_MS,
          onError,
        })
      : startPartitionMaintenance(store, {
          lockId: 7_000_001 + Math.floor(Math.random() * 1e6),
          intervalMs: JOB_INTERVAL_MS,
          onError,
        });
  const noop = {
    async send(messages: readonly OutboxMessage[]): Promise<SendResult[]> {
      return messages.map(() => sent());
    },
  };
  const relay = createRelay({ store, sender: noop, batchSize: 500, pollIntervalMs: 20, telemetry: false });
  const l: Lane = { table, schema, pool, store, job, drainMs: 0, delivered: 0, relay };
  relay.on('batch', (b) => (l.delivered += b.sent));
  return l;
}

async function insertChunk(l: Lane, count: number): Promise<void> {
  // ~120-byte JSON payloads, as in the drain benchmark; 10,000 rows a statement.
  for (let done = 0; done < count; done += 10_000) {
    await l.pool.query(
      `INSERT INTO "${l.schema}".outbox_messages (topic, key, payload, headers)
       SELECT 'orders', 'order-' || (g % 1000), convert_to(json_build_object('type', 'OrderPlaced', 'orderId', g, 'total', g % 977, 'currency', 'EUR', 'note', repeat('x', 40))::text, 'UTF8'), '{"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}'
       FROM generate_series(1, $1) AS g`,
      [Math.min(10_000, count - done)],
    );
  }
  await l.pool.query(`ANALYZE "${l.schema}".outbox_messages`);
}

async function drainChunk(l: Lane, target: number): Promise<void> {
  const started = performance.now();
  await l.relay.start();
  await until(() => l.delivered >= target, 600_000, 2);
  await l.relay.stop();
  l.drainMs += performance.now() - started;
}

async function size(l: Lane): Promise<{ bytes: number; rows: number }> {
  const t = `"${l.schema}".outbox_messages`;
  const { rows } = await l.pool.query(
    // pg_partition_tree lists a plain table as its own (only) member.
    `SELECT COALESCE((SELECT sum(pg_total_relation_size(relid))::float8 FROM pg_partition_tree($1::regclass)), pg_total_relation_size($1::regclass)::float8) AS bytes,
       (SELECT count(*) FROM ${t})::float8 AS rows`,
    [t],
  );
  return { bytes: Number(rows[0].bytes), rows: Number(rows[0].rows) };
}

export async function partitionBench(options: {
  messages: number;
  chunks: number;
  log?: (line: string) => void;
}): Promise<PartitionBenchRow[]> {
  const jobErrors: unknown[] = [];
  const lanes = [await lane('plain', jobErrors), await lane('partitioned', jobErrors)];
  const per = Math.ceil(options.messages / options.chunks);
  const started = Date.now();
  try {
    for (let c = 0; c < options.chunks; c++) {
      for (const l of c % 2 === 0 ? lanes : [...lanes].reverse()) {
        await insertChunk(l, per);
        await drainChunk(l, per * (c + 1));
      }
      options.log?.(
        `  chunk ${c + 1}/${options.chunks} after ${Math.round((Date.now() - started) / 1000)} s: ${lanes
          .map((l) => `${l.table} ${Math.round(l.delivered / (l.drainMs / 1000))} msg/s`)
          .join(', ')}`,
      );
    }
    const end = await Promise.all(lanes.map(size));
    options.log?.(
      `  waiting ${(RETENTION_MS + 2 * JOB_INTERVAL_MS) / 1000} s for one more retention window…`,
    );
    await new Promise((r) => setTimeout(r, RETENTION_MS + 2 * JOB_INTERVAL_MS));
    const settled = await Promise.all(lanes.map(size));
    if (jobErrors.length > 0) options.log?.(`  retention job errors: ${jobErrors.map(String).join('; ')}`);
    return lanes.map((l, i) => ({
      table: l.table,
      messages: per * options.chunks,
      drainPerSec: (per * options.chunks) / (l.drainMs / 1000),
      sizeBytes: end[i]!.bytes,
      rowsLeft: end[i]!.rows,
      settledSizeBytes: settled[i]!.bytes,
      settledRowsLeft: settled[i]!.rows,
      retentionNote:
        l.table === 'plain'
          ? 'pruneSent every 10 s: sent > 1 min ago, 5,000 rows a statement'
          : 'maintenance every 10 s: 1-minute partitions, retention 0, premake 2',
    }));
  } finally {
    for (const l of lanes) {
      await l.job.stop();
      await l.relay.stop().catch(() => {});
      await l.pool.query(`DROP SCHEMA "${l.schema}" CASCADE`);
      await l.pool.end();
    }
  }
}
