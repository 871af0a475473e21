import { type Executor, mysqlDateTime } from '@troutbox/core';

// SQL that only the CLI needs. Every value is a bound parameter; table names come from the
// dialect (validated and quoted by core) or are bound as values in catalogue lookups. These
// belong in core's Dialect eventually (see the package README, "Proposed core additions").

/** What `status` adds to core's `stats()`. */
export interface RecentSends {
  /** The database's clock, so ages do not depend on this machine's. */
  readonly now: Date;
  readonly sentLastMinute: number;
  readonly sentLastHour: number;
}

/**
 * Rows of pending messages locked by an open transaction (a relay's claim), and how that was
 * measured; `count` is null where the database cannot tell.
 */
export interface InFlight {
  readonly count: number | null;
  readonly method: 'pg_locks' | 'performance_schema.data_locks' | 'unavailable';
}

/** The CLI's own queries on one outbox table. */
export interface AdminQueries {
  tableExists(): Promise<boolean>;
  recentSends(): Promise<RecentSends>;
  inFlight(): Promise<InFlight>;
  /** Dead letters matching a topic and age, for confirmation prompts and progress bars. */
  countDead(filter: { topic?: string | undefined; createdBefore?: Date | undefined }): Promise<number>;
  /** True when the table is a partitioned table (whoever created it). */
  isPartitioned(): Promise<boolean>;
  /** The database's clock. */
  now(): Promise<Date>;
}

const num = (value: unknown): number => (value === null || value === undefined ? 0 : Number(value));

/** PostgreSQL: `table` is the dialect's quoted, qualified `tableName`. */
export function postgresAdminQueries(db: Executor, table: string): AdminQueries {
  return {
    async tableExists() {
      const { rows } = await db.query<{ found: boolean }>('SELECT to_regclass($1) IS NOT NULL AS found', [
        table,
      ]);
      return rows[0]?.found === true;
    },

    async recentSends() {
      // Walks the partial index on sent_at (status = 'sent'), so it reads one hour of rows at most.
      const { rows } = await db.query(
        `SELECT now() AS now,
  count(*) FILTER (WHERE sent_at > now() - interval '1 minute') AS last_minute,
  count(*) AS last_hour
FROM ${table} WHERE status = 'sent' AND sent_at > now() - interval '1 hour'`,
      );
      const row = rows[0] ?? {};
      return {
        now: new Date(row.now as Date),
        sentLastMinute: num(row.last_minute),
        sentLastHour: num(row.last_hour),
      };
    },

    async inFlight() {
      // A row lock lives in the row's xmax, not in pg_locks; a pending row whose xmax is a
      // transaction that is still running (every running transaction holds a lock on its own
      // id) is locked by it now. This reads the rows without locking them, unlike probing with
      // FOR UPDATE SKIP LOCKED, which would take the locks itself and stall the relays. A row a
      // relay has already marked sent in its open transaction still counts: it is in flight
      // until that transaction commits.
      const { rows } = await db.query(
        `SELECT count(*) AS n FROM ${table} AS o
WHERE o.status = 'pending'
  AND o.xmax IN (SELECT l.transactionid FROM pg_locks AS l WHERE l.locktype = 'transactionid')`,
      );
      return { count: num(rows[0]?.n), method: 'pg_locks' };
    },

    async countDead(filter) {
      const params: unknown[] = [];
      let sql = `SELECT count(*) AS n FROM ${table} WHERE status = 'dead'`;
      if (filter.topic !== undefined) {
        params.push(filter.topic);
        sql += ` AND topic = $${params.length}`;
      }
      if (filter.createdBefore !== undefined) {
        params.push(filter.createdBefore);
        sql += ` AND created_at < $${params.length}`;
      }
      const { rows } = await db.query(sql, params);
      return num(rows[0]?.n);
    },

    async isPartitioned() {
      const { rows } = await db.query<{ relkind: string }>(
        'SELECT c.relkind FROM pg_class AS c WHERE c.oid = to_regclass($1)',
        [table],
      );
      return rows[0]?.relkind === 'p';
    },

    async now() {
      const { rows } = await db.query<{ now: Date }>('SELECT now() AS now');
      return new Date(rows[0]!.now);
    },
  };
}

const ISO = `'%Y-%m-%dT%H:%i:%s.%fZ'`;

/**
 * MySQL and MariaDB: `table` is the dialect's quoted, qualified `tableName`; `database` and
 * `name` the bare names, bound as values in catalogue queries.
 */
export function mysqlAdminQueries(db: Executor, table: string, database: string, name: string): AdminQueries {
  let lockTable: Promise<boolean> | undefined;

  // MySQL 8 lists InnoDB row locks in performance_schema.data_locks; MariaDB has no such table
  // (its information_schema.INNODB_LOCKS shows only locks someone waits for). With
  // performance_schema off, the table exists but is empty, which would read as "0 in flight".
  async function canSeeRowLocks(): Promise<boolean> {
    try {
      const { rows } = await db.query<{ v: string; ps: unknown }>(
        'SELECT VERSION() AS v, @@performance_schema AS ps',
      );
      const row = rows[0];
      if (!row || /mariadb/i.test(String(row.v)) || Number(row.ps) !== 1) return false;
      await db.query('SELECT 1 FROM performance_schema.data_locks LIMIT 0');
      return true;
    } catch {
      return false;
    }
  }

  return {
    async tableExists() {
      const { rows } = await db.query(
        'SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?',
        [database, name],
      );
      return num(rows[0]?.n) > 0;
    },

    async recentSends() {
      const { rows } = await db.query(
        `SELECT DATE_FORMAT(UTC_TIMESTAMP(6), ${ISO}) AS now,
  COALESCE(SUM(sent_at > UTC_TIMESTAMP(6) - INTERVAL 1 MINUTE), 0) AS last_minute,
  COUNT(*) AS last_hour
FROM ${table} WHERE status = 'sent' AND sent_at > UTC_TIMESTAMP(6) - INTERVAL 1 HOUR`,
      );
      const row = rows[0] ?? {};
      return {
        now: new Date(String(row.now)),
        sentLastMinute: num(row.last_minute),
        sentLastHour: num(row.last_hour),
      };
    },

    async inFlight() {
      lockTable ??= canSeeRowLocks();
      if (!(await lockTable)) return { count: null, method: 'unavailable' };
      // A claim locks the primary-key record of each row it returns (X,REC_NOT_GAP at READ
      // COMMITTED); LOCK_DATA holds the key value as text.
      const { rows } = await db.query(
        `SELECT COUNT(*) AS n FROM ${table} AS o
WHERE o.status = 'pending' AND o.id IN (
  SELECT CAST(l.LOCK_DATA AS UNSIGNED) FROM performance_schema.data_locks AS l
  WHERE l.OBJECT_SCHEMA = ? AND l.OBJECT_NAME = ? AND l.INDEX_NAME = 'PRIMARY'
    AND l.LOCK_TYPE = 'RECORD' AND l.LOCK_MODE LIKE 'X%')`,
        [database, name],
      );
      return { count: num(rows[0]?.n), method: 'performance_schema.data_locks' };
    },

    async countDead(filter) {
      const params: unknown[] = [];
      let sql = `SELECT COUNT(*) AS n FROM ${table} WHERE status = 'dead'`;
      if (filter.topic !== undefined) {
        params.push(filter.topic);
        sql += ' AND topic = ?';
      }
      if (filter.createdBefore !== undefined) {
        params.push(mysqlDateTime(filter.createdBefore));
        sql += ' AND created_at < ?';
      }
      const { rows } = await db.query(sql, params);
      return num(rows[0]?.n);
    },

    async isPartitioned() {
      const { rows } = await db.query(
        `SELECT COUNT(*) AS n FROM information_schema.PARTITIONS
WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND PARTITION_NAME IS NOT NULL`,
        [database, name],
      );
      return num(rows[0]?.n) > 0;
    },

    async now() {
      const { rows } = await db.query(`SELECT DATE_FORMAT(UTC_TIMESTAMP(6), ${ISO}) AS now`);
      return new Date(String(rows[0]?.now));
    },
  };
}
