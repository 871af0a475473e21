import type { Executor } from '@troutbox/core';

// The one query the CLI runs itself: which pending rows a relay holds locked right now. It reads
// the database's lock tables, which differ per server and say nothing about the outbox's own
// contract, so it stays here rather than in core's Dialect. Everything else the CLI shows comes
// from core's store (`stats`, `count`, `sentCounts`, `now`, `tableStatus`, `partitions`).

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
  inFlight(): Promise<InFlight>;
}

const num = (value: unknown): number => (value === null || value === undefined ? 0 : Number(value));

/** PostgreSQL: `table` is the dialect's quoted, qualified `tableName`. */
export function postgresAdminQueries(db: Executor, table: string): AdminQueries {
  return {
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
  };
}

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
  };
}
