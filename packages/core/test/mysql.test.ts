// What only MySQL has: the dialect's named GET_LOCK for migrations, and mysql2's two APIs.
import { createPool } from 'mysql2';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type Executor,
  isOutboxError,
  mysql,
  mysql2Connection,
  mysql2Pool,
  SqlMessageStore,
  type TransactionalExecutor,
} from '../src/index.js';
import { uniqueName } from '../src/testing/index.js';
import { databaseNamed, mysqlUrl } from './databases.js';
import { createTestOutbox, gate, messages } from './helpers.js';

const database = databaseNamed('mysql');

describe('mysql migration lock', () => {
  const admin = database.connect({ connections: 2 });
  const names: string[] = [];
  afterAll(async () => {
    for (const n of names) await database.dropNamespace(admin, n);
    await admin.end();
  });

  it('is held for the whole migration, named within 64 characters even for the longest names; a waiter times out', async () => {
    // 64-character database and 48-character table: MySQL 8 refuses lock names over 64.
    const namespace = `${uniqueName('lock')}_`.padEnd(64, 'x');
    const table = `t${'x'.repeat(47)}`;
    names.push(namespace);
    const inside = gate();
    const release = gate();
    // An executor that pauses the first migration once it holds the lock.
    const paused = (db: TransactionalExecutor): TransactionalExecutor => {
      const hold = (conn: Executor): Executor => ({
        async query(sql, params) {
          if (sql.startsWith('CREATE TABLE') && !inside.opened) {
            inside.open();
            await release.promise;
          }
          return conn.query(sql, params);
        },
      });
      return {
        query: db.query,
        transaction: (fn, o) => db.transaction((tx) => fn(hold(tx)), o),
        withConnection: (fn) => db.withConnection!((c) => fn(hold(c))),
      };
    };
    const first = database.connect({ connections: 1 });
    const second = database.connect({ connections: 1 });
    try {
      const migrating = mysql({ database: namespace, table }).migrate(paused(first.db));
      await inside.promise;
      const error = await mysql({ database: namespace, table, lockTimeoutSeconds: 0 })
        .migrate(second.db)
        .catch((e: unknown) => e);
      expect(isOutboxError(error, 'MIGRATION_FAILED')).toBe(true);
      const lockName = /migration lock (\S+) within/.exec(String(error))?.[1];
      expect(lockName).toBeDefined();
      expect(lockName!.length).toBeLessThanOrEqual(64);
      const [held] = await admin.sql<{ holder: number | null }>('SELECT IS_USED_LOCK(?) AS holder', [
        lockName,
      ]);
      expect(held!.holder).not.toBeNull();
      release.open();
      expect(await migrating).toEqual({ applied: [1, 2], version: 2 });
      // Released afterwards, on the connection that took it: the second process now finds nothing to do.
      expect(await mysql({ database: namespace, table, lockTimeoutSeconds: 0 }).migrate(second.db)).toEqual({
        applied: [],
        version: 2,
      });
    } finally {
      release.open();
      await first.end();
      await second.end();
    }
  });

  it('rejects a lockTimeoutSeconds that is not a non-negative integer', () => {
    for (const bad of [-1, 1.5, Number.NaN, '5']) {
      let error: unknown;
      try {
        mysql({ lockTimeoutSeconds: bad as number });
      } catch (e) {
        error = e;
      }
      expect(isOutboxError(error, 'INVALID_OPTION'), String(bad)).toBe(true);
    }
  });
});

describe('mysql2 executors', () => {
  it("take mysql2's callback-API pool and connection (what Kysely and TypeORM hold) through .promise()", async () => {
    const db = await createTestOutbox(database, { prefix: 'cb' });
    const pool = createPool({ uri: mysqlUrl, connectionLimit: 2 });
    try {
      const store = new SqlMessageStore({ dialect: db.dialect, db: mysql2Pool(pool) });
      expect(await store.db.transaction((tx) => store.add(tx, messages(3)))).toBe(3);
      // A producer's own transaction on a callback connection.
      await new Promise<void>((resolve, reject) =>
        pool.getConnection((error, conn) => {
          if (error) return reject(error);
          conn.beginTransaction(async (begun) => {
            if (begun) return reject(begun);
            try {
              await store.add(mysql2Connection(conn), { topic: 'callback', payload: 1 });
              conn.commit((committed) => (committed ? reject(committed) : resolve()));
            } catch (e) {
              reject(e);
            } finally {
              conn.release();
            }
          });
        }),
      );
      expect(await db.count()).toBe(4);
      expect(await store.stats()).toMatchObject({ pending: 4 });
    } finally {
      await new Promise((resolve) => pool.end(resolve));
      await db.close();
    }
  });

  it('refuse what is not a mysql2 pool or connection with INVALID_OPTION', () => {
    for (const bad of [null, {}, { query: () => 1 }, { promise: () => ({}) }]) {
      const error = (() => {
        try {
          mysql2Pool(bad as never);
        } catch (e) {
          return e;
        }
      })();
      expect(isOutboxError(error, 'INVALID_OPTION'), JSON.stringify(bad)).toBe(true);
    }
    const error = (() => {
      try {
        mysql2Connection({} as never);
      } catch (e) {
        return e;
      }
    })();
    expect(isOutboxError(error, 'INVALID_OPTION')).toBe(true);
  });
});
