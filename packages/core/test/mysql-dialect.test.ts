// What only the MySQL dialect has: a named GET_LOCK for migrations, with a timeout.
import { afterAll, describe, expect, it } from 'vitest';
import { type Executor, isOutboxError, mysql, type TransactionalExecutor } from '../src/index.js';
import { uniqueName } from '../src/testing/index.js';
import { databaseNamed } from './databases.js';
import { gate } from './helpers.js';

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
      expect(await migrating).toEqual({ applied: [1], version: 1 });
      // Released afterwards, on the connection that took it: the second process now finds nothing to do.
      expect(await mysql({ database: namespace, table, lockTimeoutSeconds: 0 }).migrate(second.db)).toEqual({
        applied: [],
        version: 1,
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
