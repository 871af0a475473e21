import { OutboxError } from '../errors.js';
import type { Executor, TransactionalExecutor } from '../executor.js';
import { quotePg, validateIdentifier } from '../identifiers.js';
import type { EncodedMessage, MessageStatus } from '../message.js';
import {
  type MigrationSource,
  postgresMigrationSources,
  postgresPartitionedMigrationSources,
} from '../migrations/postgres.js';
import { optionNames, rejectUnknownOptions } from '../options.js';
import { type PartitionOptions, resolvePartitionOptions } from '../partitions.js';
import {
  type ClaimWalk,
  type Dialect,
  type MessageFilter,
  type MigrateResult,
  type Migration,
  type Ordering,
  type Outcome,
  runDepth,
  type Statement,
  type TableStatus,
  walkWidth,
} from './dialect.js';
import { partitionComment, postgresPartitions } from './postgres-partitions.js';
import { rowToMessage, rowToStats, rowToStoredMessage, toBool } from './rows.js';

/** Options of {@link postgres}. */
export interface PostgresDialectOptions {
  /** Schema of the outbox table. @defaultValue `'public'` */
  schema?: string;
  /** Name of the outbox table. @defaultValue `'outbox_messages'` */
  table?: string;
  /**
   * Create the table partitioned by range of `created_at` (`true` for the defaults: daily
   * partitions, 7 made ahead, 7 past ones kept). Decided when the table is created: `migrate()`
   * on an existing plain table with this option fails rather than convert it. Run
   * `store.maintainPartitions()` or `startPartitionMaintenance()` to keep partitions coming.
   * @defaultValue a plain table
   */
  partitioned?: PartitionOptions | boolean;
  /**
   * `'key'`: messages with the same key are delivered in the order their transactions
   * committed, one at a time per key across every relay; a failing message holds back only its
   * own key. Producers and relays of the table must use the same setting.
   * @defaultValue `'none'`
   */
  ordering?: Ordering;
  /**
   * Wake listening relays with `pg_notify` from inside the producer's insert statement (never a
   * statement of its own), at most once per `minIntervalMs` per table in this process: a NOTIFY
   * in every transaction serialises commits. `false` turns it off (relays then poll).
   * @defaultValue `{ minIntervalMs: 10 }`
   */
  notify?: boolean | { minIntervalMs?: number };
}

// timestamptz holds 4713 BC (Julian day 0) to 294276 AD; a Date ends at ±275,760 years.
const PG_MIN_TIMESTAMP = Date.UTC(-4713, 10, 24);
const MAX_DATE = 8.64e15;

/** Last time this process notified each channel (performance.now()), shared by every dialect instance. */
const lastNotified = new Map<string, number>();

/** Should an insert on `channel` notify now? Records the decision. */
function notifyDue(channel: string, minIntervalMs: number): boolean {
  const now = performance.now();
  const last = lastNotified.get(channel);
  if (last !== undefined && now - last < minIntervalMs) return false;
  lastNotified.set(channel, now);
  return true;
}

/**
 * The wake-up channel of a table: `troutbox:<schema>.<table>`, or a hash of it where that would
 * pass PostgreSQL's 63-byte limit on channel names.
 */
export function channelName(namespace: string, table: string): string {
  const name = `troutbox:${namespace}.${table}`;
  return name.length <= 63 ? name : `troutbox:${advisoryLockKey(name)}`;
}

export function resolveOrdering(value: unknown): Ordering {
  if (value === undefined || value === 'none') return 'none';
  if (value === 'key') return 'key';
  throw new OutboxError('INVALID_OPTION', `ordering must be 'none' or 'key', got ${JSON.stringify(value)}`);
}

function resolveNotify(value: unknown): number | null {
  if (value === false) return null;
  if (value === undefined || value === true) return 10;
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    rejectUnknownOptions('notify', value, optionNames.notify);
    const ms = (value as { minIntervalMs?: unknown }).minIntervalMs ?? 10;
    if (typeof ms === 'number' && Number.isFinite(ms) && ms >= 0) return ms;
    throw new OutboxError('INVALID_OPTION', `notify.minIntervalMs must be a number ≥ 0, got ${String(ms)}`);
  }
  throw new OutboxError('INVALID_OPTION', 'notify must be a boolean or { minIntervalMs }');
}

// Selected through the alias `o`, and ordered by `o.id`: a bare `ORDER BY id` would bind to the
// `id::text` output column, sort by text, and lose the index.
const COLUMNS =
  'o.id::text AS id, o.topic, o.key, o.payload, o.content_type, o.headers, o.created_at, o.attempts';
const STORED_COLUMNS = `${COLUMNS}, o.status, o.available_at, o.sent_at, o.last_error`;

// Selected FROM the function so the row has a boolean column, not a `void` one that some
// drivers (Prisma's raw queries) cannot read.
const LOCK_SQL = 'SELECT true AS locked FROM pg_advisory_xact_lock($1::bigint)';

/** A stable signed 64-bit key for advisory locks, from a name (FNV-1a). */
export function advisoryLockKey(name: string): string {
  let hash = 0xcbf29ce484222325n;
  for (const byte of new TextEncoder().encode(name)) {
    hash ^= BigInt(byte);
    hash = (hash * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return BigInt.asIntN(64, hash).toString();
}

export function renderMigrations(
  sources: readonly MigrationSource[],
  vars: { schema: string; table: string; name: string; keys?: string; database?: string },
): Migration[] {
  const render = (sql: string) =>
    sql
      .replaceAll('{{schema}}', vars.schema)
      .replaceAll('{{table}}', vars.table)
      .replaceAll('{{keys}}', vars.keys ?? '')
      .replaceAll('{{database}}', vars.database ?? '')
      .replaceAll('{{name}}', vars.name);
  return sources.map((m) => ({
    version: m.version,
    name: m.name,
    up: m.up.map(render),
    down: m.down.map(render),
  }));
}

function checkVersion(value: unknown, what: string, min: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new OutboxError('INVALID_OPTION', `${what} must be an integer ≥ ${min}, got ${String(value)}`);
  }
}

/**
 * The ordered claim, in one statement. Parameters: `$1` the batch size, `$2` the key after which
 * the walk starts (NULL: the first key), `$3` how many keys it may visit, `$4` ids this
 * transaction has already claimed (a second round of the same claim must not take them again),
 * `$5` how many messages of one key the walk counts on (`runDepth`).
 *
 * `walk` visits the keys that have pending messages, in key order from `$2` round to where it
 * started, one probe of the key index a key: the index's first entry after the previous key is
 * the next key's first pending message, its head. It stops once the due heads' keys hold `$1`
 * pending messages (counting at most `$5` a key) or after `$3` keys, so a relay that finds every
 * key held by others pays for a bounded walk, not the whole backlog; relays start where their
 * last walk ended, so they spread over the keys and every key's turn comes. Within the
 * statement's snapshot a key's messages that committed later are invisible, so no later message
 * passes for a head.
 *
 * `unkeyed` takes the due messages without a key (seq 0) in due order through their own index:
 * all the batch if the walk found no due heads, else what their keys leave of it, and at least
 * half. `heads` locks the due heads by id, skipping those another relay holds (and with them
 * their keys); a head updated since the snapshot (sent or retried by another relay just before)
 * is re-checked on its new version and dropped. Then, while the batch has room, each head locks
 * the messages that follow it in its key straight from the key index (`locked`: a fair share
 * each, due ones only), so one hot key still moves a batch at a time. A run's place is its seq
 * less its head's (`run_n`, 1, 2…: a key's pending seqs after its head are consecutive); `runs`
 * keeps the batch's room of them, by place, and the store keeps each run up to its first missing
 * place (a message not due, so the rest of its key waits). `legacy` takes messages written
 * without ordering (seq NULL) when the batch still has room, from among the first `$1` due rows
 * of the pending index only: behind a deep backlog of keyed messages they wait for it to shrink,
 * and a claim never reads more than a batch of that index.
 *
 * The last row (id NULL) reports the walk: `walk_end`, the key the next walk starts after, and
 * `walk_more`, whether it stopped before it ran out of keys.
 */
function orderedClaimSql(t: string): string {
  const next = (after: string) => `SELECT k.key, k.seq, k.id, k.available_at FROM ${t} AS k
      WHERE k.status = 'pending' AND k.seq > 0 AND k.key > ${after} ORDER BY k.key, k.seq LIMIT 1`;
  const first = `SELECT k.key, k.seq, k.id, k.available_at FROM ${t} AS k
      WHERE k.status = 'pending' AND k.seq > 0 AND k.key IS NOT NULL ORDER BY k.key, k.seq LIMIT 1`;
  // Up to $5 pending messages of the key: what its head and run could bring to the batch.
  const depth = (key: string) => `(SELECT count(*)::int FROM (SELECT 1 FROM ${t} AS d
      WHERE d.key = ${key} AND d.status = 'pending' AND d.seq > 0 LIMIT $5) AS d)`;
  const sql = `WITH RECURSIVE walk (key, seq, id, due, n, due_n, wrapped) AS (
  SELECT s.key, s.seq, s.id, s.available_at <= now(), 1,
    CASE WHEN s.available_at <= now() THEN ${depth('s.key')} ELSE 0 END, s.wrapped
  FROM (
    (SELECT f.*, false AS wrapped FROM (${next('$2::text')}) AS f)
    UNION ALL
    (SELECT f.*, true FROM (${first}) AS f)
    LIMIT 1
  ) AS s
  UNION ALL
  SELECT s.key, s.seq, s.id, s.available_at <= now(), w.n + 1,
    w.due_n + CASE WHEN s.available_at <= now() THEN ${depth('s.key')} ELSE 0 END, s.wrapped
  FROM walk AS w CROSS JOIN LATERAL (
    (SELECT f.*, w.wrapped AS wrapped FROM (${next('w.key')}) AS f)
    UNION ALL
    (SELECT f.*, true FROM (${first}) AS f WHERE NOT w.wrapped)
    LIMIT 1
  ) AS s
  WHERE w.n < $3 AND w.due_n < $1 AND (NOT s.wrapped OR $2::text IS NULL OR s.key <= $2::text)
),
walked AS MATERIALIZED (SELECT * FROM walk),
candidates AS MATERIALIZED (
  SELECT w.id, w.n FROM walked AS w WHERE w.due AND w.id <> ALL($4::bigint[])
),
unkeyed AS MATERIALIZED (
  SELECT ${COLUMNS}, o.seq::text AS seq, o.available_at AS at
  FROM ${t} AS o
  WHERE o.status = 'pending' AND o.seq = 0 AND o.available_at <= now() AND o.id <> ALL($4::bigint[])
  ORDER BY o.available_at, o.id
  LIMIT (SELECT $1 - least(coalesce(max(w.due_n), 0), $1 / 2) FROM walked AS w)
  FOR UPDATE OF o SKIP LOCKED
),
heads AS MATERIALIZED (
  SELECT o.id AS head_id, o.key AS head_key, o.seq AS head_seq, c.n AS head_n,
    ${COLUMNS}, o.seq::text AS seq
  FROM candidates AS c JOIN ${t} AS o ON o.id = c.id
  WHERE o.status = 'pending' AND o.seq > 0 AND o.available_at <= now()
  ORDER BY c.n
  LIMIT (SELECT $1 - count(*) FROM unkeyed)
  FOR UPDATE OF o SKIP LOCKED
),
room AS (
  SELECT $1 - (SELECT count(*) FROM unkeyed) - count(*) AS budget, greatest(count(*), 1) AS keyed
  FROM heads
),
locked AS MATERIALIZED (
  SELECT ${COLUMNS}, o.seq::text AS seq, h.head_id::text AS run_head, o.seq - h.head_seq AS run_n, h.head_n
  FROM heads AS h CROSS JOIN room
  CROSS JOIN LATERAL (
    SELECT q.* FROM ${t} AS q
    WHERE q.key = h.head_key AND q.status = 'pending' AND q.seq > 0
      AND q.seq > h.head_seq AND q.seq <= h.head_seq + (room.budget + room.keyed - 1) / room.keyed
      AND q.available_at <= now() AND q.id <> ALL($4::bigint[])
    FOR UPDATE OF q SKIP LOCKED
  ) AS o
  WHERE room.budget > 0
),
runs AS MATERIALIZED (
  SELECT * FROM locked ORDER BY run_n, head_n LIMIT (SELECT budget FROM room)
),
legacy AS MATERIALIZED (
  SELECT ${COLUMNS}, NULL::text AS seq, o.available_at AS at
  FROM ${t} AS o
  WHERE o.status = 'pending' AND o.seq IS NULL AND o.id <> ALL($4::bigint[])
    AND (o.available_at, o.id) <= (
      SELECT b.available_at, b.id FROM (
        SELECT p.available_at, p.id FROM ${t} AS p
        WHERE p.status = 'pending' AND p.available_at <= now()
        ORDER BY p.available_at, p.id
        LIMIT $1
      ) AS b
      ORDER BY b.available_at DESC, b.id DESC
      LIMIT 1)
    AND (SELECT budget FROM room) > (SELECT count(*) FROM runs)
  ORDER BY o.available_at, o.id
  LIMIT (SELECT greatest(budget - (SELECT count(*) FROM runs), 0) FROM room)
  FOR UPDATE OF o SKIP LOCKED
)
SELECT id, topic, key, payload, content_type, headers, created_at, attempts, seq,
  NULL AS run_head, 0::bigint AS run_n, NULL::text AS walk_end, NULL::boolean AS walk_more
FROM (SELECT * FROM unkeyed ORDER BY at, id) AS u
UNION ALL
SELECT id, topic, key, payload, content_type, headers, created_at, attempts, seq, NULL, 0, NULL, NULL
FROM (SELECT * FROM heads ORDER BY head_n) AS h
UNION ALL
SELECT id, topic, key, payload, content_type, headers, created_at, attempts, seq, run_head, run_n, NULL, NULL
FROM (SELECT * FROM runs ORDER BY run_n, head_n) AS l
UNION ALL
SELECT id, topic, key, payload, content_type, headers, created_at, attempts, seq, NULL, 0, NULL, NULL
FROM (SELECT * FROM legacy ORDER BY at) AS g
UNION ALL
SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0,
  CASE WHEN (SELECT count(*) FROM heads) > 0 AND (SELECT count(*) FROM heads) >= $1 - (SELECT count(*) FROM unkeyed)
    THEN (SELECT head_key FROM heads ORDER BY head_n DESC LIMIT 1)
    ELSE (SELECT w.key FROM walked AS w ORDER BY w.n DESC LIMIT 1) END,
  (SELECT count(*) >= $3 OR coalesce(max(due_n), 0) >= $1 FROM walked)`;
  // Typed once for every use: PostgreSQL infers a parameter's type from its first use.
  return sql
    .replace(/\$1(?![0-9:])/g, () => '$1::int')
    .replace(/\$3(?![0-9:])/g, () => '$3::int')
    .replace(/\$5(?![0-9:])/g, () => '$5::int');
}

/**
 * The PostgreSQL dialect (PostgreSQL 12+, and PGlite).
 *
 * @example
 * ```ts
 * const dialect = postgres({ schema: 'app', table: 'outbox' });
 * await dialect.migrate(pgPool(pool));
 * ```
 */
export function postgres(options: PostgresDialectOptions = {}): Dialect {
  rejectUnknownOptions('postgres', options, optionNames.postgres);
  const schemaName = validateIdentifier(options.schema ?? 'public', 'schema');
  const tableName = validateIdentifier(options.table ?? 'outbox_messages', 'table');
  const schema = quotePg(schemaName);
  const t = `${schema}.${quotePg(tableName)}`;
  const migrationsTable = `${schema}.${quotePg(`${tableName}_migrations`)}`;
  const lockKey = advisoryLockKey(`troutbox:migrate:${schemaName}`);
  const partitionOptions =
    options.partitioned === undefined || options.partitioned === false
      ? null
      : resolvePartitionOptions(options.partitioned);
  const partitions = postgresPartitions({ schemaName, tableName, options: partitionOptions });
  const sources = partitionOptions
    ? postgresPartitionedMigrationSources(partitionComment(partitionOptions))
    : postgresMigrationSources;
  const migrations = renderMigrations(sources, {
    schema,
    table: quotePg(tableName),
    name: tableName,
  });
  const latest = migrations.at(-1)!.version;

  const ordering = resolveOrdering(options.ordering);
  const notifyInterval = resolveNotify(options.notify);
  const channel = channelName(schemaName, tableName);
  const keysTable = `${schema}.${quotePg(`${tableName}_keys`)}`;

  // LIMIT (SELECT $1), not LIMIT $1: a limit the planner cannot read makes it plan for the first
  // rows (an ordered walk of the pending index that stops at the limit). With a readable limit
  // and stale statistics (a burst of inserts since the last ANALYZE: 300,000 pending rows
  // estimated at 200), it would read every due row through a bitmap and sort them, on disk.
  const claimSql =
    ordering === 'none'
      ? `SELECT ${COLUMNS} FROM ${t} AS o
WHERE o.status = 'pending' AND o.available_at <= now()
ORDER BY o.available_at, o.id
LIMIT (SELECT $1::bigint)
FOR UPDATE SKIP LOCKED`
      : orderedClaimSql(t);
  // Prepared once per connection where the executor can (node-postgres): planning the ordered
  // claim costs about as much as running it. Named after a hash of the text, so two tables (or
  // two versions of troutbox) never share a name.
  const claimName = `troutbox_claim_${BigInt.asUintN(64, BigInt(advisoryLockKey(claimSql))).toString(36)}`;
  // clock_timestamp(), not now(): now() is when the relay's transaction began, before the send.
  // A retry delay counts from the failure, so a send that took longer than the delay (a send
  // timeout, say) does not make the message due again at once; sent_at is when the broker acked.
  const markSentSql = `UPDATE ${t} SET status = 'sent', sent_at = clock_timestamp() WHERE id = ANY($1::bigint[])`;
  const completeSql = `UPDATE ${t} AS o SET
  status = CASE u.status WHEN 'retry' THEN 'pending' ELSE u.status END,
  attempts = o.attempts + CASE u.status WHEN 'sent' THEN 0 ELSE 1 END,
  available_at = CASE u.status WHEN 'retry' THEN clock_timestamp() + u.delay_ms * interval '1 millisecond' ELSE o.available_at END,
  last_error = COALESCE(u.error, o.last_error),
  sent_at = CASE u.status WHEN 'sent' THEN clock_timestamp() ELSE o.sent_at END
FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[]) AS u(id, status, delay_ms, error)
WHERE o.id = u.id`;
  // The same, bounded by created_at: on a partitioned table the bounds prune partitions and make
  // the planner walk the (id, created_at) primary key instead of scanning a partition whose
  // statistics are not gathered yet (every lookup by id alone is estimated to match all rows).
  const markSentInRangeSql = `${markSentSql} AND created_at >= $2 AND created_at <= $3`;
  const completeInRangeSql = `${completeSql} AND o.created_at >= $5 AND o.created_at <= $6`;

  // An ordered table's messages without a key get seq 0, which puts them in the unkeyed index
  // the ordered claim reads (see orderingMigration); without ordering, seq stays NULL.
  const seqColumn = ordering === 'key' ? ', seq' : '';
  const seqZero = ordering === 'key' ? ', 0' : '';

  function insertSql(count: number, keyed: boolean, notify: boolean): string {
    const rows: string[] = [];
    const n = count * 6 + 1;
    if (!keyed && !notify) {
      for (let i = 0; i < count; i++) {
        const b = i * 6;
        rows.push(
          `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}::jsonb, COALESCE($${b + 6}::timestamptz, now())${seqZero})`,
        );
      }
      return `INSERT INTO ${t} (topic, key, payload, content_type, headers, available_at${seqColumn}) VALUES ${rows.join(', ')}`;
    }
    if (!keyed) {
      // Still one INSERT statement: the notification rides along as a one-row join. It is
      // queued with the insert and delivered at commit, or dropped with a rollback (and
      // PostgreSQL sends identical notifications of one transaction once).
      for (let i = 0; i < count; i++) {
        const b = i * 6;
        rows.push(
          `($${b + 1}::text, $${b + 2}::text, $${b + 3}::bytea, $${b + 4}::text, $${b + 5}::jsonb, $${b + 6}::timestamptz)`,
        );
      }
      return `INSERT INTO ${t} (topic, key, payload, content_type, headers, available_at${seqColumn})
SELECT v.topic, v.key, v.payload, v.content_type, v.headers, COALESCE(v.available_at, now())${seqZero}
FROM (VALUES ${rows.join(', ')}) AS v (topic, key, payload, content_type, headers, available_at)
CROSS JOIN (SELECT pg_notify($${n}, '')) AS wake`;
    }
    // The ordinal (a literal of ours, never a value) keeps the rows in the caller's order.
    for (let i = 0; i < count; i++) {
      const b = i * 6;
      rows.push(
        `(${i + 1}, $${b + 1}::text, $${b + 2}::text, $${b + 3}::bytea, $${b + 4}::text, $${b + 5}::jsonb, $${b + 6}::timestamptz)`,
      );
    }
    // The key counters are bumped in the statement that inserts the messages: each key row
    // stays locked until this transaction ends, so a later transaction of the same key waits
    // here and gets higher numbers, and seq order is commit order. Keys are locked in sorted
    // order, so two producers of the same keys cannot deadlock on them within one statement.
    const ctes = `WITH v (ord, topic, key, payload, content_type, headers, available_at) AS (VALUES ${rows.join(', ')}),
k AS (
  INSERT INTO ${keysTable} AS s (key, seq)
  SELECT v.key, count(*) FROM v WHERE v.key IS NOT NULL GROUP BY v.key ORDER BY v.key
  ON CONFLICT (key) DO UPDATE SET seq = s.seq + excluded.seq
  RETURNING s.key, s.seq
),
r AS (
  SELECT v.*, row_number() OVER (PARTITION BY v.key ORDER BY v.ord) AS rank,
    count(*) OVER (PARTITION BY v.key) AS n
  FROM v
)`;
    const insert = `INSERT INTO ${t} (topic, key, payload, content_type, headers, available_at, seq)
SELECT r.topic, r.key, r.payload, r.content_type, r.headers, COALESCE(r.available_at, now()), COALESCE(k.seq - r.n + r.rank, 0)
FROM r LEFT JOIN k ON k.key = r.key
ORDER BY r.ord`;
    return notify
      ? `${ctes},\nins AS (${insert})\nSELECT true AS notified FROM pg_notify($${n}, '')`
      : `${ctes}\n${insert}`;
  }
  const insertCache = new Map<string, string>();

  function where(status: MessageStatus, filter: MessageFilter, params: unknown[]): string {
    params.push(status);
    const parts = [`status = $${params.length}`];
    if (filter.ids !== undefined) {
      params.push(filter.ids);
      parts.push(`id = ANY($${params.length}::bigint[])`);
    }
    if (filter.topic !== undefined) {
      params.push(filter.topic);
      parts.push(`topic = $${params.length}`);
    }
    if (filter.createdBefore !== undefined) {
      params.push(filter.createdBefore);
      parts.push(`created_at < $${params.length}`);
    }
    if (filter.maxId !== undefined) {
      params.push(filter.maxId);
      parts.push(`id <= $${params.length}::bigint`);
    }
    return parts.join(' AND ');
  }

  async function appliedVersions(tx: Executor): Promise<Set<number>> {
    // CREATE SCHEMA IF NOT EXISTS checks the database-level CREATE privilege even when the
    // schema exists, so a role that owns only its schema (or uses public) could not migrate.
    const { rows: found } = await tx.query<{ exists: boolean }>(
      'SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) AS exists',
      [schemaName],
    );
    if (!found[0]?.exists) await tx.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await tx.query(
      `CREATE TABLE IF NOT EXISTS ${migrationsTable} (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const { rows } = await tx.query<{ version: number }>(`SELECT version FROM ${migrationsTable}`);
    return new Set(rows.map((r) => Number(r.version)));
  }

  return {
    name: 'postgres',
    ordering,
    channel,
    capabilities: { skipLocked: true, listenNotify: true, partitioning: true, returning: true },
    tableName: t,
    // 6 parameters a row; PostgreSQL's limit is 65,535 per statement.
    maxRowsPerInsert: 10_000,
    timestampRange: Object.freeze({ min: new Date(PG_MIN_TIMESTAMP), max: new Date(MAX_DATE) }),

    insert(messages: readonly EncodedMessage[]): readonly Statement[] {
      const params: unknown[] = [];
      let keyed = false;
      for (const m of messages) {
        params.push(m.topic, m.key, m.payload, m.contentType, m.headers, m.availableAt);
        if (m.key !== null) keyed = true;
      }
      // Only keyed messages on an ordered table pay for the key counters.
      keyed &&= ordering === 'key';
      const notify = notifyInterval !== null && notifyDue(channel, notifyInterval);
      if (notify) params.push(channel);
      const cacheKey = `${messages.length}:${keyed ? 1 : 0}${notify ? 1 : 0}`;
      let sql = insertCache.get(cacheKey);
      if (sql === undefined) {
        sql = insertSql(messages.length, keyed, notify);
        if (messages.length <= 64) insertCache.set(cacheKey, sql);
      }
      return [{ sql, params }];
    },

    claimedWalk(rows) {
      const found: Record<string, unknown>[] = [];
      let next: string | null = null;
      let more = false;
      for (const r of rows) {
        if (r.id != null) found.push(r);
        else {
          next = r.walk_end == null ? null : String(r.walk_end);
          more = toBool(r.walk_more);
        }
      }
      return { rows: found, next, more };
    },

    claim(limit: number, walk?: ClaimWalk): Statement {
      if (ordering === 'none') return { sql: claimSql, params: [limit], name: claimName };
      return {
        sql: claimSql,
        name: claimName,
        params: [limit, walk?.after ?? null, walkWidth(limit), walk?.exclude ?? [], runDepth(limit)],
      };
    },

    // The ordered claim's per-row key probe makes the first-rows trick above look expensive to
    // the planner (JIT compilation on large tables); it keeps a plain LIMIT and, for its own
    // transaction only, rules out the bitmap-and-sort plan and JIT instead. Prepared, it is
    // planned once per connection for any parameters (every path it takes is an index walk
    // bounded by its own limits), not again on each claim.
    ...(ordering === 'key'
      ? {
          claimSetup: {
            sql: "SELECT set_config('enable_bitmapscan', 'off', true) AS bitmap, set_config('jit', 'off', true) AS jit, set_config('plan_cache_mode', 'force_generic_plan', true) AS generic",
            params: [],
          },
        }
      : {}),

    complete(outcomes: readonly Outcome[], created?: { from: Date; to: Date }): Statement {
      if (outcomes.every((o) => o.status === 'sent')) {
        const ids = outcomes.map((o) => o.id);
        return created
          ? { sql: markSentInRangeSql, params: [ids, created.from, created.to] }
          : { sql: markSentSql, params: [ids] };
      }
      const ids: string[] = [];
      const statuses: string[] = [];
      const delays: (number | null)[] = [];
      const errors: (string | null)[] = [];
      for (const o of outcomes) {
        ids.push(o.id);
        statuses.push(o.status);
        delays.push(o.status === 'retry' ? Math.max(0, Math.round(o.delayMs)) : null);
        errors.push(o.status === 'sent' ? null : o.error);
      }
      return created
        ? { sql: completeInRangeSql, params: [ids, statuses, delays, errors, created.from, created.to] }
        : { sql: completeSql, params: [ids, statuses, delays, errors] };
    },

    lockPending(ids): Statement {
      return {
        sql: `SELECT o.id::text AS id, o.attempts FROM ${t} AS o
WHERE o.id = ANY($1::bigint[]) AND o.status = 'pending'
FOR UPDATE OF o SKIP LOCKED`,
        params: [ids],
      };
    },

    listMessages(status, filter): Statement {
      const params: unknown[] = [];
      let cond = where(status, filter, params);
      if (filter.afterId !== undefined) {
        params.push(filter.afterId);
        cond += ` AND o.id > $${params.length}::bigint`;
      }
      params.push(filter.limit);
      return {
        sql: `SELECT ${STORED_COLUMNS} FROM ${t} AS o WHERE ${cond} ORDER BY o.id LIMIT $${params.length}`,
        params,
      };
    },

    getMessage(id: string): Statement {
      return { sql: `SELECT ${STORED_COLUMNS} FROM ${t} AS o WHERE o.id = $1::bigint`, params: [id] };
    },

    requeue(filter): Statement {
      const params: unknown[] = [];
      const cond = where('dead', filter, params);
      params.push(filter.limit);
      return {
        sql: `UPDATE ${t} SET status = 'pending', attempts = 0, available_at = now()
WHERE id IN (SELECT id FROM ${t} WHERE ${cond} ORDER BY id LIMIT $${params.length} FOR UPDATE SKIP LOCKED)`,
        params,
      };
    },

    purge(status, filter): Statement {
      const params: unknown[] = [];
      const cond = where(status, filter, params);
      params.push(filter.limit);
      return {
        sql: `DELETE FROM ${t} WHERE id IN (SELECT id FROM ${t} WHERE ${cond} ORDER BY id LIMIT $${params.length} FOR UPDATE SKIP LOCKED)`,
        params,
      };
    },

    stats(): Statement {
      return {
        sql: `SELECT
  (SELECT count(*) FROM ${t} WHERE status = 'pending') AS pending,
  (SELECT count(*) FROM ${t} WHERE status = 'pending' AND available_at <= now()) AS due,
  (SELECT count(*) FROM ${t} WHERE status = 'dead') AS dead,
  (SELECT count(*) FROM ${t} WHERE status = 'sent') AS sent,
  (SELECT min(created_at) FROM ${t} WHERE status = 'pending') AS oldest_pending_at`,
        params: [],
      };
    },

    count(status, filter): Statement {
      const params: unknown[] = [];
      const cond = where(status, filter, params);
      return { sql: `SELECT count(*) AS n, max(id)::text AS max_id FROM ${t} WHERE ${cond}`, params };
    },

    sentCounts(windowsMs): Statement {
      // One pass over the sent index, as far back as the widest window.
      const widest = Math.max(0, ...windowsMs);
      const cols = windowsMs.map(
        (_, i) => `count(*) FILTER (WHERE sent_at > now() - $${i + 2} * interval '1 millisecond') AS w${i}`,
      );
      return {
        sql: `SELECT now() AS now${cols.map((c) => `, ${c}`).join('')}
FROM ${t} WHERE status = 'sent' AND sent_at > now() - $1 * interval '1 millisecond'`,
        params: [widest, ...windowsMs],
      };
    },

    pruneSent({ sentBefore, limit }): Statement {
      // Oldest first along the sent index; one bounded statement per call.
      return {
        sql: `DELETE FROM ${t} WHERE id IN (
  SELECT id FROM ${t} WHERE status = 'sent' AND sent_at < $1 ORDER BY sent_at LIMIT $2 FOR UPDATE SKIP LOCKED)`,
        params: [sentBefore, limit],
      };
    },

    keyCounters(after, limit): Statement {
      // Pending keyed messages by probe of the key index; dead ones by one hashed pass over the
      // dead letters (they have no key index), not a scan per key.
      return {
        sql: `SELECT c.key, c.seq::text AS seq,
  NOT EXISTS (SELECT 1 FROM ${t} AS m WHERE m.key = c.key AND m.status = 'pending' AND m.seq > 0)
  AND c.key NOT IN (SELECT d.key FROM ${t} AS d WHERE d.status = 'dead' AND d.key IS NOT NULL AND d.seq > 0) AS idle
FROM ${keysTable} AS c
WHERE ($1::text IS NULL OR c.key > $1::text)
ORDER BY c.key
LIMIT $2`,
        params: [after, limit],
      };
    },

    deleteKeyCounters(counters): Statement {
      // A counter bumped since it was read fails the seq test on its new version (a producer
      // still holding it makes this wait for its commit, then fails it the same way).
      return {
        sql: `DELETE FROM ${keysTable} AS k USING unnest($1::text[], $2::bigint[]) AS u (key, seq)
WHERE k.key = u.key AND k.seq = u.seq`,
        params: [counters.map((c) => c.key), counters.map((c) => c.seq)],
      };
    },

    now(): Statement {
      return { sql: 'SELECT now() AS now', params: [] };
    },

    async tableStatus(db: Executor): Promise<TableStatus> {
      const { rows } = await db.query<Record<string, unknown>>(
        `SELECT (SELECT c.relkind::text FROM pg_class AS c WHERE c.oid = to_regclass($1)) AS relkind,
  to_regclass($2) IS NOT NULL AS has_migrations`,
        [t, migrationsTable],
      );
      const relkind = (rows[0]?.relkind as string | null) ?? null;
      let version: number | null = null;
      if (rows[0]?.has_migrations === true) {
        const { rows: v } = await db.query<{ v: unknown }>(
          `SELECT max(version) AS v FROM ${migrationsTable}`,
        );
        version = v[0]?.v == null ? 0 : Number(v[0].v);
      }
      return { exists: relkind !== null, partitioned: relkind === 'p', version, latest };
    },

    partitions,

    toMessage: rowToMessage,
    toStoredMessage: rowToStoredMessage,
    toStats: rowToStats,

    migrations: () => migrations,

    async migrate(db: TransactionalExecutor, opts: { to?: number } = {}): Promise<MigrateResult> {
      const target = opts?.to ?? latest;
      checkVersion(target, 'migrate({ to })', 1);
      try {
        // DDL is transactional in PostgreSQL: the lock, the checks and every migration commit
        // together, and a second process waits on the lock, then finds nothing left to do.
        return await db.transaction(async (tx) => {
          await tx.query(LOCK_SQL, [lockKey]);
          const done = await appliedVersions(tx);
          const newest = Math.max(0, ...done);
          if (newest > latest) {
            throw new OutboxError(
              'MIGRATION_FAILED',
              `${t} is at migration ${newest}, newer than this version of troutbox knows (${latest})`,
            );
          }
          const applied: number[] = [];
          for (const m of migrations) {
            if (m.version > target || done.has(m.version)) continue;
            for (const sql of m.up) await tx.query(sql);
            await tx.query(`INSERT INTO ${migrationsTable} (version, name) VALUES ($1, $2)`, [
              m.version,
              m.name,
            ]);
            applied.push(m.version);
          }
          if (partitionOptions && (applied.includes(1) || done.has(1))) {
            // CREATE TABLE IF NOT EXISTS would silently keep a plain table of the same name.
            if (!(await partitions.isPartitioned(tx))) {
              throw new OutboxError(
                'MIGRATION_FAILED',
                `${t} exists as a plain table; troutbox does not convert it to a partitioned one (create a new table, or migrate the rows yourself)`,
              );
            }
            if (applied.includes(1)) await partitions.createInitial(tx);
          }
          return { applied, version: Math.max(newest, ...applied) };
        });
      } catch (cause) {
        if (cause instanceof OutboxError) throw cause;
        throw new OutboxError('MIGRATION_FAILED', `migrating ${t} failed: ${(cause as Error).message}`, {
          cause,
        });
      }
    },

    async rollback(db: TransactionalExecutor, opts: { to: number }): Promise<MigrateResult> {
      checkVersion(opts?.to, 'rollback({ to })', 0);
      try {
        return await db.transaction(async (tx) => {
          await tx.query(LOCK_SQL, [lockKey]);
          const done = await appliedVersions(tx);
          const undone: number[] = [];
          for (const m of [...migrations].reverse()) {
            if (m.version <= opts.to || !done.has(m.version)) continue;
            for (const sql of m.down) await tx.query(sql);
            await tx.query(`DELETE FROM ${migrationsTable} WHERE version = $1`, [m.version]);
            undone.push(m.version);
          }
          const left = [...done].filter((v) => !undone.includes(v));
          return { applied: undone, version: Math.max(0, ...left) };
        });
      } catch (cause) {
        if (cause instanceof OutboxError) throw cause;
        throw new OutboxError('MIGRATION_FAILED', `rolling back ${t} failed: ${(cause as Error).message}`, {
          cause,
        });
      }
    },
  };
}
