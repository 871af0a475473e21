import { OutboxError } from '../errors.js';
import type { Executor, TransactionalExecutor } from '../executor.js';
import { quotePg } from '../identifiers.js';
import {
  type KeptPartition,
  type PartitionCalendar,
  type PartitionInfo,
  type PartitionListing,
  type PartitionMaintenanceOptions,
  type PartitionMaintenanceReport,
  partitionCalendar,
  type ResolvedPartitionOptions,
  resolveMaintenanceOptions,
  resolvePartitionOptions,
} from '../partitions.js';
import { toDate, toInt } from './rows.js';

/** What a dialect offers for partitioned tables (PostgreSQL only). */
export interface PartitionSupport {
  /** The mode this dialect creates tables in (`postgres({ partitioned })`), or null for plain tables. */
  readonly options: ResolvedPartitionOptions | null;
  /** The table's partitions, with exact pending/dead counts and estimated row counts. */
  list(db: Executor): Promise<PartitionListing>;
  /** One maintenance run in its own transaction on `db`. */
  maintain(
    db: TransactionalExecutor,
    options: PartitionMaintenanceOptions,
  ): Promise<PartitionMaintenanceReport>;
  /** Inside migrate's transaction, after the table was created: the first partitions. */
  createInitial(tx: Executor): Promise<void>;
  /** True when the table exists and is partitioned. */
  isPartitioned(tx: Executor): Promise<boolean>;
}

// Marks the table comment that stores the partition configuration with the table.
const COMMENT_PREFIX = 'troutbox:partitioned ';

// Every column, seq too (migration 2): a moved row keeps its place in its key's order.
const COLUMNS =
  'id, topic, key, payload, content_type, headers, status, attempts, available_at, created_at, sent_at, last_error, seq';

/** The `COMMENT ON TABLE` text that records `options` (built from validated values only). */
export function partitionComment(options: ResolvedPartitionOptions): string {
  return `${COMMENT_PREFIX}${JSON.stringify(options)}`;
}

function parseComment(comment: unknown): ResolvedPartitionOptions | null {
  if (typeof comment !== 'string' || !comment.startsWith(COMMENT_PREFIX)) return null;
  try {
    return resolvePartitionOptions(JSON.parse(comment.slice(COMMENT_PREFIX.length)));
  } catch {
    return null;
  }
}

const sameInterval = (a: ResolvedPartitionOptions['interval'], b: ResolvedPartitionOptions['interval']) =>
  JSON.stringify(a) === JSON.stringify(b);

interface Child {
  oid: string;
  name: string;
  sameSchema: boolean;
  isDefault: boolean;
  from: Date | null;
  to: Date | null;
  estimatedRows: number | null;
}

interface Facts {
  relkind: string | null;
  options: ResolvedPartitionOptions | null;
  now: Date;
  children: Child[];
}

/**
 * Partition SQL for one PostgreSQL outbox table. Partitions are named `<table>_p<suffix>` (the
 * range's start in UTC: `outbox_messages_p20261128` for a day) plus `<table>_default`, and
 * recognised only when the name parses exactly for the interval AND the child's bounds in
 * `pg_inherits`/`relpartbound` are that range: a table that merely looks alike
 * (`outbox_messages_1backup`, a child someone attached by hand) is never dropped.
 */
export function postgresPartitions(config: {
  schemaName: string;
  tableName: string;
  options: ResolvedPartitionOptions | null;
}): PartitionSupport {
  const { schemaName, tableName } = config;
  const schema = quotePg(schemaName);
  const t = `${schema}.${quotePg(tableName)}`;
  const defaultName = `${tableName}_default`;
  const qualified = (name: string) => `${schema}.${quotePg(name)}`;
  const prefix = `${tableName}_p`;

  async function facts(db: Executor): Promise<Facts> {
    const { rows: head } = await db.query<Record<string, unknown>>(
      `SELECT now() AS now, c.relkind::text AS relkind, obj_description(c.oid, 'pg_class') AS comment
FROM (SELECT 1) AS one LEFT JOIN pg_class AS c ON c.oid = to_regclass($1)`,
      [t],
    );
    const row = head[0] ?? {};
    const relkind = (row.relkind as string | null) ?? null;
    const now = toDate(row.now);
    if (relkind !== 'p') return { relkind, options: null, now, children: [] };
    // Bounds are rendered in this session's DateStyle and TimeZone and cast back in the same
    // session, so the round trip is exact whatever the settings.
    const { rows } = await db.query<Record<string, unknown>>(
      `SELECT c.oid::text AS oid, c.relname AS name, c.relnamespace = p.relnamespace AS same_schema,
  pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT' AS is_default,
  b.m[1]::timestamptz AS from_at, b.m[2]::timestamptz AS to_at,
  c.reltuples::float8 AS reltuples
FROM pg_inherits AS i
JOIN pg_class AS c ON c.oid = i.inhrelid
JOIN pg_class AS p ON p.oid = i.inhparent
CROSS JOIN LATERAL (SELECT regexp_match(pg_get_expr(c.relpartbound, c.oid),
  '^FOR VALUES FROM \\(''([^'']+)''\\) TO \\(''([^'']+)''\\)$') AS m) AS b
WHERE i.inhparent = to_regclass($1)`,
      [t],
    );
    const children = rows.map((r) => {
      const tuples = Number(r.reltuples);
      return {
        oid: String(r.oid),
        name: String(r.name),
        sameSchema: r.same_schema === true,
        isDefault: r.is_default === true,
        from: r.from_at == null ? null : toDate(r.from_at),
        to: r.to_at == null ? null : toDate(r.to_at),
        estimatedRows: Number.isFinite(tuples) && tuples >= 0 ? Math.round(tuples) : null,
      };
    });
    return { relkind, options: parseComment(row.comment), now, children };
  }

  function classify(child: Child, calendar: PartitionCalendar | null): PartitionInfo['kind'] {
    if (!child.sameSchema) return 'foreign';
    if (child.isDefault) return child.name === defaultName ? 'default' : 'foreign';
    if (!calendar || !child.name.startsWith(prefix) || !child.from || !child.to) return 'foreign';
    const start = calendar.parse(child.name.slice(prefix.length));
    if (!start) return 'foreign';
    const fits =
      start.getTime() === child.from.getTime() && calendar.shift(start, 1).getTime() === child.to.getTime();
    return fits ? 'range' : 'foreign';
  }

  async function undelivered(db: Executor): Promise<Map<string, { pending: number; dead: number }>> {
    // Two grouped counts, each over its partial index, rather than one scan of every row.
    const { rows } = await db.query<Record<string, unknown>>(
      `SELECT o.tableoid::oid::text AS oid, 'pending' AS status, count(*) AS n FROM ${t} AS o WHERE o.status = 'pending' GROUP BY o.tableoid
UNION ALL
SELECT o.tableoid::oid::text, 'dead', count(*) FROM ${t} AS o WHERE o.status = 'dead' GROUP BY o.tableoid`,
    );
    const counts = new Map<string, { pending: number; dead: number }>();
    for (const r of rows) {
      const c = counts.get(String(r.oid)) ?? { pending: 0, dead: 0 };
      if (r.status === 'pending') c.pending = toInt(r.n);
      else c.dead = toInt(r.n);
      counts.set(String(r.oid), c);
    }
    return counts;
  }

  function effectiveOptions(stored: ResolvedPartitionOptions | null): ResolvedPartitionOptions | null {
    if (stored && config.options && !sameInterval(stored.interval, config.options.interval)) {
      throw new OutboxError(
        'INVALID_OPTION',
        `${t} is partitioned by ${JSON.stringify(stored.interval)}, but the dialect says ${JSON.stringify(config.options.interval)}`,
      );
    }
    return stored ?? config.options;
  }

  async function list(db: Executor): Promise<PartitionListing> {
    const f = await facts(db);
    if (f.relkind !== 'p') {
      if (f.relkind === null) throw new OutboxError('STORE_FAILED', `the outbox table ${t} does not exist`);
      return { partitioned: false, options: null, now: f.now, retentionCutoff: null, partitions: [] };
    }
    const options = effectiveOptions(f.options);
    const calendar = options ? partitionCalendar(options.interval) : null;
    const cutoff = options && calendar ? calendar.shift(calendar.floor(f.now), -options.retention) : null;
    const counts = await undelivered(db);
    const partitions = f.children.map((child): PartitionInfo => {
      const kind = classify(child, calendar);
      const c = counts.get(child.oid) ?? { pending: 0, dead: 0 };
      const pastRetention = kind === 'range' && cutoff !== null && child.to!.getTime() <= cutoff.getTime();
      return {
        name: child.name,
        kind,
        from: child.from,
        to: child.to,
        estimatedRows: child.estimatedRows,
        pending: c.pending,
        dead: c.dead,
        pastRetention,
        droppable: pastRetention && c.pending + c.dead <= 10_000,
      };
    });
    partitions.sort((a, b) => {
      if (a.from === null || b.from === null) return a.from === null ? (b.from === null ? 0 : 1) : -1;
      return a.from.getTime() - b.from.getTime() || a.name.localeCompare(b.name);
    });
    return { partitioned: true, options, now: f.now, retentionCutoff: cutoff, partitions };
  }

  async function nameTaken(tx: Executor, name: string): Promise<boolean> {
    const { rows } = await tx.query<{ taken: boolean }>('SELECT to_regclass($1) IS NOT NULL AS taken', [
      qualified(name),
    ]);
    return rows[0]?.taken === true;
  }

  /** Run `fn` under a savepoint; on failure roll back to it and return the error. */
  async function step(tx: Executor, fn: () => Promise<void>): Promise<Error | null> {
    await tx.query('SAVEPOINT troutbox_partition_step');
    try {
      await fn();
      await tx.query('RELEASE SAVEPOINT troutbox_partition_step');
      return null;
    } catch (error) {
      await tx.query('ROLLBACK TO SAVEPOINT troutbox_partition_step');
      return error as Error;
    }
  }

  const reason = (e: Error) =>
    (e as { code?: string }).code === '55P03' ? 'lock timeout' : e.message || String(e);

  /**
   * Create the partitions from the current range to `premake` ahead. A range whose rows are
   * waiting in DEFAULT is created as a plain table, the rows are moved into it, and it is then
   * attached (PostgreSQL refuses to attach a range that DEFAULT holds rows for).
   */
  async function createAhead(
    tx: Executor,
    f: Facts,
    options: ResolvedPartitionOptions,
    premake: number,
    report: { created: string[]; skipped: { name: string; reason: string }[]; movedFromDefault: number },
  ): Promise<void> {
    const calendar = partitionCalendar(options.interval);
    let hasDefault = f.children.some((c) => classify(c, calendar) === 'default');
    if (!hasDefault && !(await nameTaken(tx, defaultName))) {
      // An insert must never fail for want of a partition.
      const error = await step(tx, async () => {
        await tx.query(`CREATE TABLE ${qualified(defaultName)} PARTITION OF ${t} DEFAULT`);
      });
      if (error) report.skipped.push({ name: defaultName, reason: reason(error) });
      else {
        report.created.push(defaultName);
        hasDefault = true;
      }
    }
    const ranges = f.children.filter((c) => c.from && c.to && !c.isDefault);
    const current = calendar.floor(f.now);
    for (let i = 0; i <= premake; i++) {
      const from = calendar.shift(current, i);
      const to = calendar.shift(from, 1);
      const overlaps = ranges.some(
        (c) => c.from!.getTime() < to.getTime() && c.to!.getTime() > from.getTime(),
      );
      if (overlaps) continue;
      const name = `${prefix}${calendar.suffix(from)}`;
      if (await nameTaken(tx, name)) {
        report.skipped.push({
          name,
          reason: 'a table of that name exists and is not a partition of the outbox',
        });
        continue;
      }
      let moved = 0;
      const error = await step(tx, async () => {
        await tx.query(
          `CREATE TABLE ${qualified(name)} (LIKE ${t} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`,
        );
        if (hasDefault) {
          const { rowCount } = await tx.query(
            `WITH moved AS (DELETE FROM ${qualified(defaultName)} WHERE created_at >= $1 AND created_at < $2 RETURNING ${COLUMNS})
INSERT INTO ${qualified(name)} (${COLUMNS}) SELECT ${COLUMNS} FROM moved`,
            [from, to],
          );
          moved = rowCount;
        }
        // Bounds are literals in DDL (no parameters there), written from validated Dates.
        await tx.query(
          `ALTER TABLE ${t} ATTACH PARTITION ${qualified(name)} FOR VALUES FROM ('${from.toISOString()}') TO ('${to.toISOString()}')`,
        );
      });
      if (error) report.skipped.push({ name, reason: reason(error) });
      else {
        report.created.push(name);
        report.movedFromDefault += moved;
        ranges.push({ oid: '', name, sameSchema: true, isDefault: false, from, to, estimatedRows: 0 });
      }
    }
  }

  async function maintain(
    db: TransactionalExecutor,
    options: PartitionMaintenanceOptions,
  ): Promise<PartitionMaintenanceReport> {
    const o = resolveMaintenanceOptions(options);
    return db.transaction(async (tx) => {
      // Transaction-scoped: the commit or rollback releases it, so it can never stay behind on
      // a pooled connection. A second run does not wait: it skips.
      const { rows } = await tx.query<{ locked: boolean }>(
        'SELECT pg_try_advisory_xact_lock($1::bigint) AS locked',
        [o.lockId],
      );
      const report = {
        ran: rows[0]?.locked === true,
        created: [] as string[],
        dropped: [] as string[],
        moved: [] as { name: string; pending: number; dead: number }[],
        kept: [] as KeptPartition[],
        skipped: [] as { name: string; reason: string }[],
        movedFromDefault: 0,
        prunedFromDefault: 0,
      };
      if (!report.ran) return report;
      await tx.query("SELECT set_config('lock_timeout', $1, true)", [`${o.lockTimeoutMs}ms`]);
      const f = await facts(tx);
      if (f.relkind === null) throw new OutboxError('STORE_FAILED', `the outbox table ${t} does not exist`);
      if (f.relkind !== 'p') {
        throw new OutboxError(
          'INVALID_OPTION',
          `${t} is a plain table: partition maintenance needs a table created with postgres({ partitioned })`,
        );
      }
      const stored = effectiveOptions(f.options);
      if (!stored) {
        throw new OutboxError(
          'INVALID_OPTION',
          `${t} is partitioned, but not by troutbox (no stored configuration): pass postgres({ partitioned: { interval } })`,
        );
      }
      const opts = {
        ...stored,
        premake: o.premake ?? stored.premake,
        retention: o.retention ?? stored.retention,
      };
      const calendar = partitionCalendar(opts.interval);

      await createAhead(tx, f, opts, opts.premake, report);

      const cutoff = calendar.shift(calendar.floor(f.now), -opts.retention);
      const old = f.children.filter(
        (c) => classify(c, calendar) === 'range' && c.to!.getTime() <= cutoff.getTime(),
      );
      for (const child of old) {
        // Counted in the partition itself (through its partial indexes), so a large backlog in
        // the current partitions costs maintenance nothing.
        const { rows: n } = await tx.query<Record<string, unknown>>(
          `SELECT (SELECT count(*) FROM ${qualified(child.name)} WHERE status = 'pending') AS pending,
  (SELECT count(*) FROM ${qualified(child.name)} WHERE status = 'dead') AS dead`,
        );
        const c = { pending: toInt(n[0]?.pending ?? 0), dead: toInt(n[0]?.dead ?? 0) };
        const waiting = c.pending + c.dead;
        if (waiting > o.moveLimit) {
          report.kept.push({ name: child.name, ...c, reason: 'undelivered' });
          continue;
        }
        const error = await step(tx, async () => {
          if (waiting > 0) {
            // Detached, the range is covered by no partition: re-inserted through the parent,
            // the rows land in DEFAULT with their ids and timestamps unchanged.
            await tx.query(`ALTER TABLE ${t} DETACH PARTITION ${qualified(child.name)}`);
            await tx.query(
              `WITH moved AS (DELETE FROM ${qualified(child.name)} WHERE status <> 'sent' RETURNING ${COLUMNS})
INSERT INTO ${t} (${COLUMNS}) OVERRIDING SYSTEM VALUE SELECT ${COLUMNS} FROM moved`,
            );
          }
          await tx.query(`DROP TABLE ${qualified(child.name)}`);
        });
        if (error) report.kept.push({ name: child.name, ...c, reason: 'failed', error: reason(error) });
        else {
          report.dropped.push(child.name);
          if (waiting > 0) report.moved.push({ name: child.name, ...c });
        }
      }

      // Sent rows that waited in DEFAULT (no partition existed for them) age out like the rest.
      if (f.children.some((c) => classify(c, calendar) === 'default')) {
        const batch = 5000;
        for (;;) {
          const { rowCount } = await tx.query(
            `DELETE FROM ${qualified(defaultName)} WHERE id IN (
  SELECT id FROM ${qualified(defaultName)} WHERE status = 'sent' AND created_at < $1 LIMIT $2)`,
            [cutoff, batch],
          );
          report.prunedFromDefault += rowCount;
          if (rowCount < batch) break;
        }
      }
      return report;
    });
  }

  return {
    options: config.options,
    list,
    maintain,
    async createInitial(tx) {
      if (!config.options) return;
      const f = await facts(tx);
      const report = { created: [], skipped: [] as { name: string; reason: string }[], movedFromDefault: 0 };
      await createAhead(tx, f, config.options, config.options.premake, report);
      if (report.skipped.length > 0) {
        const first = report.skipped[0]!;
        throw new OutboxError(
          'MIGRATION_FAILED',
          `could not create partition ${first.name}: ${first.reason}`,
        );
      }
    },
    async isPartitioned(tx) {
      const { rows } = await tx.query<{ relkind: string | null }>(
        'SELECT c.relkind::text AS relkind FROM pg_class AS c WHERE c.oid = to_regclass($1)',
        [t],
      );
      return rows[0]?.relkind === 'p';
    },
  };
}
