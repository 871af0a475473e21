import { OutboxError } from '../errors.js';
import type { Executor, TransactionalExecutor } from '../executor.js';
import { quoteMysql, validateIdentifier } from '../identifiers.js';
import type { EncodedMessage, MessageStatus } from '../message.js';
import { mysqlMigrationSources } from '../migrations/mysql.js';
import { optionNames, rejectUnknownOptions } from '../options.js';
import {
  type ClaimWalk,
  type Dialect,
  type MessageFilter,
  type MigrateResult,
  type Ordering,
  type Outcome,
  type Statement,
  type TableStatus,
  walkWidth,
} from './dialect.js';
import { advisoryLockKey, channelName, renderMigrations, resolveOrdering } from './postgres.js';
import { rowToMessage, rowToStats, rowToStoredMessage } from './rows.js';

/** Options of {@link mysql}. */
export interface MysqlDialectOptions {
  /** Database (schema) of the outbox table. @defaultValue the connection's current database */
  database?: string;
  /** Name of the outbox table. @defaultValue `'outbox_messages'` */
  table?: string;
  /** Seconds `migrate()` waits for another process's migration lock. @defaultValue 60 */
  lockTimeoutSeconds?: number;
  /**
   * `'key'`: messages with the same key are delivered in the order their transactions
   * committed, one at a time per key across every relay. The producer then runs two statements
   * for keyed messages (the key counters, then the messages), and must run them in a transaction.
   * @defaultValue `'none'`
   */
  ordering?: Ordering;
}

// Ids are cast to text (mysql2 reads BIGINT as a lossy number by default). DATETIME columns hold UTC; they are read back as ISO strings so no driver time-zone setting
// can shift them.
const iso = (column: string) => `DATE_FORMAT(${column}, '%Y-%m-%dT%H:%i:%s.%fZ')`;
const COLUMNS = `CAST(o.id AS CHAR) AS id, o.topic, o.\`key\`, o.payload, o.content_type, o.headers, ${iso('o.created_at')} AS created_at, o.attempts`;
const STORED_COLUMNS = `${COLUMNS}, o.status, ${iso('o.available_at')} AS available_at, ${iso('o.sent_at')} AS sent_at, o.last_error`;

// last_error is TEXT: 65,535 bytes, so at most 16,383 four-byte characters. A longer error
// (a relay with a large maxErrorLength) would fail the whole batch's completion in strict mode,
// and the batch would be sent again and again without its attempts being counted.
const MAX_ERROR_CHARS = 16_383;

// An error text cut in the middle of a surrogate pair (the relay clips long errors) holds a lone
// surrogate, which JSON.stringify escapes and JSON_TABLE rejects: the batch's completion would
// fail every time. Such halves become U+FFFD, as PostgreSQL's driver does.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const wellFormed = (text: string) => text.replace(LONE_SURROGATE, '\uFFFD');

// The documented DATETIME range of MySQL and MariaDB (MariaDB also stores years 0–999, MySQL does
// not promise to); a later year fails the insert (ER_TRUNCATED_WRONG_VALUE) in strict mode.
const DATETIME_MIN = Date.UTC(1000, 0, 1);
const DATETIME_MAX = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** A UTC `DATETIME(6)` literal value for a bound parameter. */
export function mysqlDateTime(date: Date): string {
  return `${date.toISOString().replace('T', ' ').replace('Z', '')}000`;
}

// mysql2 expands a Uint8Array that is not a Buffer as an object; hand it a Buffer view.
function bytesParam(bytes: Uint8Array): Uint8Array {
  const B = (
    globalThis as {
      Buffer?: { isBuffer(v: unknown): boolean; from(b: ArrayBufferLike, o: number, l: number): Uint8Array };
    }
  ).Buffer;
  if (!B || B.isBuffer(bytes)) return bytes;
  return B.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function checkVersion(value: unknown, what: string, min: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new OutboxError('INVALID_OPTION', `${what} must be an integer ≥ ${min}, got ${String(value)}`);
  }
}

/**
 * The MySQL 8.0+ and MariaDB 10.6+ dialect. Both have `FOR UPDATE SKIP LOCKED` and `JSON_TABLE`;
 * neither has LISTEN/NOTIFY, so relays poll (and can be woken in-process).
 *
 * The relay's transactions should run at READ COMMITTED (`relayIsolationLevel`): at InnoDB's
 * default REPEATABLE READ a locking claim also locks gaps in the index, which would block
 * producers' inserts while a batch is being sent.
 *
 * @example
 * ```ts
 * const dialect = mysql({ database: 'app', table: 'outbox' });
 * await dialect.migrate(mysql2Pool(pool));
 * ```
 */
export function mysql(options: MysqlDialectOptions = {}): Dialect {
  rejectUnknownOptions('mysql', options, optionNames.mysql);
  const database =
    options.database === undefined ? undefined : validateIdentifier(options.database, 'database', 64);
  const tableName = validateIdentifier(options.table ?? 'outbox_messages', 'table');
  const lockTimeout = options.lockTimeoutSeconds ?? 60;
  if (!Number.isInteger(lockTimeout) || lockTimeout < 0) {
    throw new OutboxError('INVALID_OPTION', 'lockTimeoutSeconds must be a non-negative integer');
  }
  const qualify = (name: string) =>
    database ? `${quoteMysql(database)}.${quoteMysql(name)}` : quoteMysql(name);
  const t = qualify(tableName);
  const migrationsTable = qualify(`${tableName}_migrations`);
  // MySQL 8 refuses user-level lock names over 64 characters (MariaDB allows more): a long
  // database and table name is replaced by its hash.
  const fullLockName = `troutbox:migrate:${database ?? ''}.${tableName}`;
  const lockName =
    fullLockName.length <= 64 ? fullLockName : `troutbox:migrate:${advisoryLockKey(fullLockName)}`;
  const keysTable = qualify(`${tableName}_keys`);
  const migrations = renderMigrations(mysqlMigrationSources, {
    schema: '',
    table: t,
    name: tableName,
    keys: keysTable,
    // A validated identifier, so safe as a string literal.
    database: database ? `'${database}'` : 'DATABASE()',
  });
  const latest = migrations.at(-1)!.version;
  const ordering = resolveOrdering(options.ordering);
  const channel = channelName(database ?? '', tableName);

  const claimSql = `SELECT ${COLUMNS} FROM ${t} AS o
WHERE o.status = 'pending' AND o.available_at <= UTC_TIMESTAMP(6)
ORDER BY o.available_at, o.id
LIMIT ?
FOR UPDATE SKIP LOCKED`;

  // Ordered: on InnoDB the walk cannot take the locks itself (a locking read keeps every row it
  // examined locked, the non-heads too, and its SKIP LOCKED then waits on rows other relays are
  // completing, which deadlocks). So `walkSql` is a plain read of candidates, and
  // `orderedClaim.lockHeads` then locks the chosen rows by primary key, skipping those held
  // elsewhere. A head in a consistent read stays the head while it is pending (a key's lower
  // messages never become pending again, except a dead letter that is requeued).
  //
  // The walk reads the key index (status, key, seq, available_at) in order from the key after
  // the cursor: `width` entries, index only, so its cost is bounded however deep the backlog.
  // Each key's first entry is its head (messages written without ordering, seq NULL, come
  // first); the entries after it are its run, numbered by `rn` and kept up to a fair share of
  // the batch among the keys read. The rows carry how many entries were read (`read_n`) and the
  // last key (`last_key`): the next walk starts after it, or from the first key when the walk
  // ran off the end. Messages without a key (key and seq NULL) are read in due order from the
  // same index, as `rn` 1 with no key. (`ORDER BY key, seq` and no more: MariaDB sorts the whole
  // range when the ORDER BY names the index's remaining columns too, before any ANALYZE. And
  // FIRST_VALUE over a descending order for the last key: MariaDB computes MAX() OVER () anew
  // for every row, 0.5 s for a walk of 2,000 entries.)
  const walkSql = (
    from: 'first' | 'after',
  ) => `SELECT CAST(v.id AS CHAR) AS id, v.\`key\` AS \`key\`, CAST(v.seq AS CHAR) AS seq,
  v.due, v.rn, v.read_n, v.last_key
FROM (
  SELECT w.*, SUM(w.rn = 1) OVER () AS keys_n, COUNT(*) OVER () AS read_n,
    FIRST_VALUE(w.\`key\`) OVER (ORDER BY w.\`key\` DESC) AS last_key
  FROM (
    SELECT r.id, r.\`key\`, r.seq, r.available_at <= UTC_TIMESTAMP(6) AS due,
      ROW_NUMBER() OVER (PARTITION BY r.\`key\` ORDER BY r.seq, r.available_at, r.id) AS rn
    FROM (
      SELECT z.id, z.\`key\`, z.seq, z.available_at FROM ${t} AS z
      WHERE z.status = 'pending' AND ${from === 'after' ? 'z.`key` > ?' : 'z.`key` IS NOT NULL'}
      ORDER BY z.\`key\`, z.seq
      LIMIT ?
    ) AS r
  ) AS w
) AS v
WHERE v.rn <= CEIL(? / v.keys_n)
UNION ALL
SELECT CAST(u.id AS CHAR), NULL, NULL, 1, 1, NULL, NULL FROM (
  SELECT o.id FROM ${t} AS o
  WHERE o.status = 'pending' AND o.\`key\` IS NULL AND o.seq IS NULL AND o.available_at <= UTC_TIMESTAMP(6)
  ORDER BY o.available_at, o.id
  LIMIT ?
) AS u`;
  const walkFromFirst = walkSql('first');
  const walkAfter = walkSql('after');

  const lockSql = (ids: readonly string[]) =>
    `SELECT ${COLUMNS}, CAST(o.seq AS CHAR) AS seq FROM ${t} AS o FORCE INDEX (PRIMARY)
WHERE o.id IN (${ids.map(() => '?').join(', ')}) AND o.status = 'pending' AND o.available_at <= UTC_TIMESTAMP(6)
FOR UPDATE SKIP LOCKED`;

  const orderedClaim = {
    lockHeads(ids: readonly string[], limit: number): Statement {
      // Walked in primary-key order and stopped at the limit, so no more rows than the batch
      // are locked (a sort would lock every candidate first).
      return {
        sql: `${lockSql(ids).replace('FOR UPDATE SKIP LOCKED', 'ORDER BY o.id\nLIMIT ?\nFOR UPDATE SKIP LOCKED')}`,
        params: [...ids, limit],
      };
    },
    lock(ids: readonly string[]): Statement {
      return { sql: lockSql(ids), params: [...ids] };
    },
  };
  const completeSql = `UPDATE ${t} AS o
JOIN JSON_TABLE(?, '$[*]' COLUMNS (
  id BIGINT PATH '$.id',
  status VARCHAR(16) PATH '$.status',
  delay_ms BIGINT PATH '$.delayMs',
  error LONGTEXT PATH '$.error'
)) AS u ON o.id = u.id
SET
  o.last_error = COALESCE(LEFT(u.error, ${MAX_ERROR_CHARS}), o.last_error),
  o.attempts = o.attempts + IF(u.status = 'sent', 0, 1),
  o.available_at = IF(u.status = 'retry', UTC_TIMESTAMP(6) + INTERVAL u.delay_ms * 1000 MICROSECOND, o.available_at),
  o.sent_at = IF(u.status = 'sent', UTC_TIMESTAMP(6), o.sent_at),
  o.status = IF(u.status = 'retry', 'pending', u.status)`;

  const row = '(?, ?, ?, ?, ?, COALESCE(?, UTC_TIMESTAMP(6)), UTC_TIMESTAMP(6))';
  // Ordered: seq is read back from the key counter this transaction has just bumped (and holds
  // locked), less the number of the key's messages that follow this one in the statement.
  const orderedRow = `(?, ?, ?, ?, ?, COALESCE(?, UTC_TIMESTAMP(6)), UTC_TIMESTAMP(6), (SELECT c.seq - ? FROM ${keysTable} AS c WHERE c.\`key\` = ?))`;
  const insertCache = new Map<string, string>();
  function insertSql(count: number, keyed: boolean): string {
    const cacheKey = `${count}:${keyed ? 1 : 0}`;
    let sql = insertCache.get(cacheKey);
    if (sql === undefined) {
      sql = keyed
        ? `INSERT INTO ${t} (topic, \`key\`, payload, content_type, headers, available_at, created_at, seq) VALUES ${Array(count).fill(orderedRow).join(', ')}`
        : `INSERT INTO ${t} (topic, \`key\`, payload, content_type, headers, available_at, created_at) VALUES ${Array(count).fill(row).join(', ')}`;
      if (count <= 64) insertCache.set(cacheKey, sql);
    }
    return sql;
  }

  function where(status: MessageStatus, filter: MessageFilter, params: unknown[]): string {
    params.push(status);
    const parts = ['status = ?'];
    if (filter.ids !== undefined) {
      if (filter.ids.length === 0) return '1 = 0';
      params.push(...filter.ids);
      parts.push(`id IN (${filter.ids.map(() => '?').join(', ')})`);
    }
    if (filter.topic !== undefined) {
      params.push(filter.topic);
      parts.push('topic = ?');
    }
    if (filter.createdBefore !== undefined) {
      params.push(mysqlDateTime(filter.createdBefore));
      parts.push('created_at < ?');
    }
    if (filter.maxId !== undefined) {
      params.push(filter.maxId);
      parts.push('id <= ?');
    }
    return parts.join(' AND ');
  }

  async function appliedVersions(conn: Executor): Promise<Set<number>> {
    if (database) await conn.query(`CREATE DATABASE IF NOT EXISTS ${quoteMysql(database)}`);
    await conn.query(
      `CREATE TABLE IF NOT EXISTS ${migrationsTable} (version INT NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL, applied_at DATETIME(6) NOT NULL) ENGINE=InnoDB`,
    );
    const { rows } = await conn.query<{ version: number }>(`SELECT version FROM ${migrationsTable}`);
    return new Set(rows.map((r) => Number(r.version)));
  }

  // Migration statements, with the conditional DDL of migration 2 (`SET @troutbox_ddl = (…)`,
  // then PREPARE / EXECUTE / DEALLOCATE, for tools that run the SQL as a script) run directly:
  // the DDL text is selected, then executed. Executors on the binary protocol (Prisma's
  // MariaDB adapter) refuse PREPARE.
  async function runScript(conn: Executor, statements: readonly string[]): Promise<void> {
    let ddl: string | null = null;
    for (const sql of statements) {
      const chosen = /^SET @troutbox_ddl = (\(.*\))$/s.exec(sql);
      if (chosen) {
        const { rows } = await conn.query<{ ddl: string }>(`SELECT ${chosen[1]} AS ddl`);
        ddl = String(rows[0]?.ddl ?? 'DO 0');
      } else if (sql === 'EXECUTE troutbox_ddl') {
        if (ddl && ddl !== 'DO 0') await conn.query(ddl);
      } else if (
        sql !== 'PREPARE troutbox_ddl FROM @troutbox_ddl' &&
        sql !== 'DEALLOCATE PREPARE troutbox_ddl'
      ) {
        await conn.query(sql);
      }
    }
  }

  // MySQL commits DDL implicitly, so a transaction cannot hold the migration together; a named
  // lock on one dedicated connection serialises migrating processes instead, and is released
  // on that same connection whatever happens.
  async function locked<T>(db: TransactionalExecutor, fn: (conn: Executor) => Promise<T>): Promise<T> {
    const run = async (conn: Executor) => {
      const { rows } = await conn.query<{ locked: number | null }>('SELECT GET_LOCK(?, ?) AS locked', [
        lockName,
        lockTimeout,
      ]);
      if (Number(rows[0]?.locked) !== 1) {
        throw new OutboxError(
          'MIGRATION_FAILED',
          `could not take the migration lock ${lockName} within ${lockTimeout} s`,
        );
      }
      try {
        return await fn(conn);
      } finally {
        await conn.query('SELECT RELEASE_LOCK(?)', [lockName]);
      }
    };
    if (db.withConnection) return db.withConnection(run);
    return db.transaction(run);
  }

  return {
    name: 'mysql',
    ordering,
    channel,
    ...(ordering === 'key' ? { orderedClaim } : {}),
    capabilities: { skipLocked: true, listenNotify: false, partitioning: false, returning: false },
    relayIsolationLevel: 'read committed',
    tableName: t,
    // Bounded by max_allowed_packet as much as by placeholders; large batches are split.
    maxRowsPerInsert: 1000,
    // mysql2 sends bytes as hex, twice their size, and max_allowed_packet is 16 MiB by default on
    // MariaDB (64 MiB on MySQL 8): 4 MiB of payload per statement stays well inside either.
    maxBytesPerInsert: 4 * 1024 * 1024,
    timestampRange: Object.freeze({ min: new Date(DATETIME_MIN), max: new Date(DATETIME_MAX) }),

    insert(messages: readonly EncodedMessage[]): readonly Statement[] {
      const params: unknown[] = [];
      const counts = new Map<string, number>();
      if (ordering === 'key') {
        for (const m of messages) if (m.key !== null) counts.set(m.key, (counts.get(m.key) ?? 0) + 1);
      }
      const keyed = counts.size > 0;
      const seen = new Map<string, number>();
      for (const m of messages) {
        params.push(
          m.topic,
          m.key,
          bytesParam(m.payload),
          m.contentType,
          m.headers,
          m.availableAt ? mysqlDateTime(m.availableAt) : null,
        );
        if (keyed) {
          // This message's seq is the key's new counter less the key's messages after it here.
          const rank = m.key === null ? 0 : (seen.get(m.key) ?? 0) + 1;
          if (m.key !== null) seen.set(m.key, rank);
          params.push(m.key === null ? 0 : counts.get(m.key)! - rank, m.key);
        }
      }
      const insert = { sql: insertSql(messages.length, keyed), params };
      if (!keyed) return [insert];
      // MySQL cannot bump the counters and insert in one statement: the counters go first, in
      // sorted key order (so two producers of the same keys take their row locks in one order),
      // and stay locked until the transaction ends, which makes seq order commit order.
      const keys = [...counts.keys()].sort();
      const upsert = {
        sql: `INSERT INTO ${keysTable} (\`key\`, seq) VALUES ${keys.map(() => '(?, ?)').join(', ')}
ON DUPLICATE KEY UPDATE seq = seq + VALUES(seq)`,
        params: keys.flatMap((k) => [k, counts.get(k)!]),
      };
      return [upsert, insert];
    },

    claimedWalk(rows, limit, walk) {
      // A walk that read all its entries stops at its last key; one that ran off the end starts
      // the next from the first key, and has more to find if it did not start there.
      let read = 0;
      let last: string | null = null;
      for (const r of rows) {
        if (r.read_n == null) continue;
        read = Number(r.read_n);
        last = r.last_key == null ? null : String(r.last_key);
        break;
      }
      return read >= walkWidth(limit)
        ? { rows, next: last, more: true }
        : { rows, next: null, more: walk.after !== null };
    },

    claim(limit: number, walk?: ClaimWalk): Statement {
      if (ordering === 'none') return { sql: claimSql, params: [limit] };
      const width = walkWidth(limit);
      return walk?.after == null
        ? { sql: walkFromFirst, params: [width, limit, limit] }
        : { sql: walkAfter, params: [walk.after, width, limit, limit] };
    },

    complete(outcomes: readonly Outcome[]): Statement {
      if (outcomes.every((o) => o.status === 'sent')) {
        return {
          sql: `UPDATE ${t} SET status = 'sent', sent_at = UTC_TIMESTAMP(6) WHERE id IN (${outcomes.map(() => '?').join(', ')})`,
          params: outcomes.map((o) => o.id),
        };
      }
      const rows = outcomes.map((o) => ({
        id: o.id,
        status: o.status,
        delayMs: o.status === 'retry' ? Math.max(0, Math.round(o.delayMs)) : null,
        error: o.status === 'sent' ? null : wellFormed(o.error),
      }));
      // The id list bounds the rows the UPDATE reads and locks to this batch's own. Joined on
      // JSON_TABLE alone, a small table may be scanned first, and the scan would wait on the rows
      // other relays hold claimed (a multi-table UPDATE skips no locked row), for their whole send.
      const sql = `${completeSql}\nWHERE o.id IN (${outcomes.map(() => '?').join(', ')})`;
      return { sql, params: [JSON.stringify(rows), ...outcomes.map((o) => o.id)] };
    },

    lockPending(ids): Statement {
      // By primary key: at READ COMMITTED (the relay's level) only the matching rows are locked.
      return {
        sql: `SELECT CAST(o.id AS CHAR) AS id, o.attempts FROM ${t} AS o FORCE INDEX (PRIMARY)
WHERE o.id IN (${ids.map(() => '?').join(', ')}) AND o.status = 'pending'
FOR UPDATE SKIP LOCKED`,
        params: [...ids],
      };
    },

    listMessages(status, filter): Statement {
      const params: unknown[] = [];
      let cond = where(status, filter, params);
      if (filter.afterId !== undefined) {
        params.push(filter.afterId);
        cond += ' AND id > ?';
      }
      params.push(filter.limit);
      return { sql: `SELECT ${STORED_COLUMNS} FROM ${t} AS o WHERE ${cond} ORDER BY o.id LIMIT ?`, params };
    },

    getMessage(id: string): Statement {
      return { sql: `SELECT ${STORED_COLUMNS} FROM ${t} AS o WHERE o.id = ?`, params: [id] };
    },

    requeue(filter): Statement {
      const params: unknown[] = [];
      const cond = where('dead', filter, params);
      params.push(filter.limit);
      return {
        sql: `UPDATE ${t} SET status = 'pending', attempts = 0, available_at = UTC_TIMESTAMP(6) WHERE ${cond} ORDER BY id LIMIT ?`,
        params,
      };
    },

    purge(status, filter): Statement {
      const params: unknown[] = [];
      const cond = where(status, filter, params);
      params.push(filter.limit);
      return { sql: `DELETE FROM ${t} WHERE ${cond} ORDER BY id LIMIT ?`, params };
    },

    stats(): Statement {
      return {
        sql: `SELECT
  (SELECT COUNT(*) FROM ${t} WHERE status = 'pending') AS pending,
  (SELECT COUNT(*) FROM ${t} WHERE status = 'pending' AND available_at <= UTC_TIMESTAMP(6)) AS due,
  (SELECT COUNT(*) FROM ${t} WHERE status = 'dead') AS dead,
  (SELECT COUNT(*) FROM ${t} WHERE status = 'sent') AS sent,
  (SELECT ${iso('MIN(created_at)')} FROM ${t} WHERE status = 'pending') AS oldest_pending_at`,
        params: [],
      };
    },

    toMessage: rowToMessage,
    toStoredMessage: rowToStoredMessage,
    toStats: rowToStats,

    migrations: () => migrations,

    async migrate(db: TransactionalExecutor, opts: { to?: number } = {}): Promise<MigrateResult> {
      const target = opts?.to ?? latest;
      checkVersion(target, 'migrate({ to })', 1);
      try {
        return await locked(db, async (conn) => {
          const done = await appliedVersions(conn);
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
            await runScript(conn, m.up);
            await conn.query(
              `INSERT INTO ${migrationsTable} (version, name, applied_at) VALUES (?, ?, UTC_TIMESTAMP(6))`,
              [m.version, m.name],
            );
            applied.push(m.version);
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
        return await locked(db, async (conn) => {
          const done = await appliedVersions(conn);
          const undone: number[] = [];
          for (const m of [...migrations].reverse()) {
            if (m.version <= opts.to || !done.has(m.version)) continue;
            await runScript(conn, m.down);
            await conn.query(`DELETE FROM ${migrationsTable} WHERE version = ?`, [m.version]);
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

    // Admin queries (count, recent sends, retention, table status).
    count(status, filter): Statement {
      const params: unknown[] = [];
      const cond = where(status, filter, params);
      return { sql: `SELECT COUNT(*) AS n, CAST(MAX(id) AS CHAR) AS max_id FROM ${t} WHERE ${cond}`, params };
    },

    sentCounts(windowsMs): Statement {
      const within = 'UTC_TIMESTAMP(6) - INTERVAL ? MICROSECOND';
      const cols = windowsMs.map((_, i) => `, COALESCE(SUM(sent_at > ${within}), 0) AS w${i}`);
      return {
        sql: `SELECT ${iso('UTC_TIMESTAMP(6)')} AS now${cols.join('')} FROM ${t} WHERE status = 'sent' AND sent_at > ${within}`,
        params: [...windowsMs.map((ms) => ms * 1000), Math.max(0, ...windowsMs) * 1000],
      };
    },

    pruneSent({ sentBefore, limit }): Statement {
      return {
        sql: `DELETE FROM ${t} WHERE status = 'sent' AND sent_at < ? ORDER BY sent_at LIMIT ?`,
        params: [mysqlDateTime(sentBefore), limit],
      };
    },

    keyCounters(after, limit): Statement {
      const idle = `NOT EXISTS (SELECT 1 FROM ${t} AS m WHERE m.status = 'pending' AND m.\`key\` = c.\`key\` AND m.seq > 0)
  AND NOT EXISTS (SELECT 1 FROM ${t} AS m WHERE m.status = 'dead' AND m.\`key\` = c.\`key\` AND m.seq > 0)`;
      return {
        sql: `SELECT c.\`key\`, CAST(c.seq AS CHAR) AS seq, ${idle} AS idle FROM ${keysTable} AS c
${after === null ? '' : 'WHERE c.`key` > ? '}ORDER BY c.\`key\` LIMIT ?`,
        params: after === null ? [limit] : [after, limit],
      };
    },

    deleteKeyCounters(counters): Statement {
      // The DELETE reads each counter's latest committed version (waiting for a producer that
      // holds it): one bumped since it was read no longer matches its seq.
      return {
        sql: `DELETE FROM ${keysTable} WHERE (\`key\`, seq) IN (${counters.map(() => '(?, ?)').join(', ')})`,
        params: counters.flatMap((c) => [c.key, c.seq]),
      };
    },

    now(): Statement {
      return { sql: `SELECT ${iso('UTC_TIMESTAMP(6)')} AS now`, params: [] };
    },

    async tableStatus(db: Executor): Promise<TableStatus> {
      const { rows } = await db.query<Record<string, unknown>>(
        `SELECT
  (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?) AS found,
  (SELECT COUNT(*) FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND PARTITION_NAME IS NOT NULL) AS parts,
  (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?) AS has_migrations`,
        [
          database ?? null,
          tableName,
          database ?? null,
          tableName,
          database ?? null,
          `${tableName}_migrations`,
        ],
      );
      const row = rows[0] ?? {};
      let version: number | null = null;
      if (Number(row.has_migrations) > 0) {
        const { rows: v } = await db.query<{ v: unknown }>(
          `SELECT MAX(version) AS v FROM ${migrationsTable}`,
        );
        version = v[0]?.v == null ? 0 : Number(v[0].v);
      }
      return { exists: Number(row.found) > 0, partitioned: Number(row.parts) > 0, version, latest };
    },
  };
}
