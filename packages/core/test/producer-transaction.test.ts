// Rule: the producer's transaction helpers (pgTransaction, mysql2Transaction) commit the business
// change and its messages together, roll both back when the callback throws, survive a server
// ending the connection (a restart: the transaction fails, the process does not crash, the next
// transaction gets a fresh connection), and a handle made inside refuses writes once the
// transaction is over.
import mysqlDriver from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createOutbox,
  type Executor,
  isOutboxError,
  mysql,
  mysql2Connection,
  mysql2Pool,
  mysql2Transaction,
  pgClient,
  pgPool,
  pgTransaction,
  postgres,
} from '../src/index.js';
import { uniqueName, waitFor } from '../src/testing/index.js';
import { mysqlUrl, pgUrl } from './databases.js';

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
}

describe('pgTransaction (node-postgres)', () => {
  const schema = uniqueName('producer');
  const dialect = postgres({ schema, ordering: 'key' });
  const outbox = createOutbox({ dialect });
  const orders = `"${schema}".orders`;
  let admin: pg.Pool;

  beforeAll(async () => {
    admin = new pg.Pool({ connectionString: pgUrl, max: 2 });
    await dialect.migrate(pgPool(admin));
    await admin.query(`CREATE TABLE ${orders} (id integer PRIMARY KEY)`);
  });
  afterAll(async () => {
    await admin.query(`DROP SCHEMA "${schema}" CASCADE`);
    await admin.end();
  });

  /** A pool as an application creates it: no `error` listener of its own. */
  const appPool = (max = 1) =>
    new pg.Pool({ connectionString: pgUrl, max, application_name: uniqueName('app') });
  const topics = async () =>
    (await admin.query<{ topic: string }>(`SELECT topic FROM ${dialect.tableName} ORDER BY id`)).rows.map(
      (r) => r.topic,
    );
  const orderIds = async () =>
    (await admin.query<{ id: number }>(`SELECT id FROM ${orders} ORDER BY id`)).rows.map((r) => r.id);
  const clear = () => admin.query(`TRUNCATE ${orders}, ${dialect.tableName}`);

  it('commits the business change and the message together, rolls both back when the callback throws, and keeps the client', async () => {
    const pool = appPool();
    try {
      const result = await pgTransaction(pool, async (client) => {
        await client.query(`INSERT INTO ${orders} (id) VALUES ($1)`, [1]);
        await outbox.add(pgClient(client), { topic: 'placed-1', key: '1', payload: { id: 1 } });
        return (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      });
      const error = await rejection(
        pgTransaction(pool, async (client) => {
          await client.query(`INSERT INTO ${orders} (id) VALUES ($1)`, [2]);
          await outbox.add(pgClient(client), { topic: 'placed-2', key: '2', payload: { id: 2 } });
          throw new Error('payment declined');
        }),
      );
      expect(String(error)).toContain('payment declined');
      // A business rollback leaves the connection clean: the same backend serves the next one.
      const again = await pgTransaction(pool, async (client) => {
        return (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      });
      expect(again).toBe(result);
      expect(await orderIds()).toEqual([1]);
      expect(await topics()).toEqual(['placed-1']);
    } finally {
      await pool.end();
      await clear();
    }
  });

  it('a backend terminated mid-transaction (57P01, as a restart) fails that transaction only: no crash, nothing of it committed, the next one gets a new connection', async () => {
    const pool = appPool(2);
    const errors: Error[] = [];
    try {
      // Two idle clients in the pool as well, ended with the rest below: the pool's own `error`.
      await Promise.all([pool.query('SELECT 1'), pool.query('SELECT 1')]);
      const error = await rejection(
        pgTransaction(
          pool,
          async (client) => {
            await client.query(`INSERT INTO ${orders} (id) VALUES ($1)`, [10]);
            const killed = await admin.query<{ n: number }>(
              'SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = $1',
              [(pool as unknown as { options: { application_name: string } }).options.application_name],
            );
            expect(killed.rows[0]!.n).toBeGreaterThanOrEqual(1);
            // The checked-out client hears of it as an `error` event (fatal without a listener).
            await waitFor(() => errors.length > 0, { message: "the client's error event" });
            await outbox.add(pgClient(client), { topic: 'lost-10', key: '10', payload: { id: 10 } });
          },
          { onConnectionError: (e) => errors.push(e) },
        ),
      );
      expect(errors.some((e) => (e as { code?: string }).code === '57P01')).toBe(true);
      expect(error).toBeInstanceOf(Error);
      await pgTransaction(pool, async (client) => {
        await client.query(`INSERT INTO ${orders} (id) VALUES ($1)`, [11]);
        await outbox.add(pgClient(client), { topic: 'placed-11', key: '11', payload: { id: 11 } });
      });
      expect(await orderIds()).toEqual([11]);
      expect(await topics()).toEqual(['placed-11']);
    } finally {
      await pool.end();
      await clear();
    }
  });

  it('pgClient(client) made inside refuses writes once the transaction is over, even while the client serves another', async () => {
    const pool = appPool(1);
    try {
      let leaked: Executor | undefined;
      await pgTransaction(pool, async (client) => {
        leaked = pgClient(client);
        expect(leaked.transactionState?.()).toBe('transaction');
        await outbox.add(leaked, { topic: 'inside', key: 'a', payload: 1 });
      });
      expect(leaked!.transactionState?.()).toBe('ended');
      const after = await rejection(outbox.add(leaked!, { topic: 'after', key: 'a', payload: 2 }));
      expect(isOutboxError(after, 'NOT_IN_TRANSACTION')).toBe(true);
      // The pool has one client: this transaction runs on the very client the handle wraps.
      await pgTransaction(pool, async (client) => {
        const during = await rejection(outbox.add(leaked!, { topic: 'during', key: 'a', payload: 3 }));
        expect(isOutboxError(during, 'NOT_IN_TRANSACTION')).toBe(true);
        await outbox.add(pgClient(client), { topic: 'second', key: 'a', payload: 4 });
      });
      expect(await topics()).toEqual(['inside', 'second']);
    } finally {
      await pool.end();
      await clear();
    }
  });

  it('takes an isolation level, and refuses what is not a pool or an unknown option (INVALID_OPTION)', async () => {
    const pool = appPool(1);
    try {
      const level = await pgTransaction(
        pool,
        async (client) =>
          (await client.query<{ l: string }>("SELECT current_setting('transaction_isolation') AS l")).rows[0]!
            .l,
        { isolationLevel: 'serializable' },
      );
      expect(level).toBe('serializable');
      for (const bad of [
        () => pgTransaction({} as never, async () => 1),
        () => pgTransaction(pool, async () => 1, { isolation: 'serializable' } as never),
      ]) {
        expect(isOutboxError(await rejection(bad()), 'INVALID_OPTION')).toBe(true);
      }
    } finally {
      await pool.end();
    }
  });
});

describe('mysql2Transaction (MariaDB)', () => {
  const database = uniqueName('producer');
  const dialect = mysql({ database, ordering: 'key' });
  const outbox = createOutbox({ dialect });
  const orders = `\`${database}\`.orders`;
  let admin: mysqlDriver.Pool;

  beforeAll(async () => {
    admin = mysqlDriver.createPool({ uri: mysqlUrl, connectionLimit: 2 });
    await dialect.migrate(mysql2Pool(admin));
    await admin.query(`CREATE TABLE ${orders} (id integer PRIMARY KEY)`);
  });
  afterAll(async () => {
    await admin.query(`DROP DATABASE \`${database}\``);
    await admin.end();
  });

  const topics = async () => {
    const [rows] = await admin.query(`SELECT topic FROM ${dialect.tableName} ORDER BY id`);
    return (rows as { topic: string }[]).map((r) => r.topic);
  };
  const orderIds = async () => {
    const [rows] = await admin.query(`SELECT id FROM ${orders} ORDER BY id`);
    return (rows as { id: number }[]).map((r) => r.id);
  };
  const clear = async () => {
    await admin.query(`DELETE FROM ${orders}`);
    await admin.query(`DELETE FROM ${dialect.tableName}`);
  };

  it('commits the business change and the keyed messages together (two statements, one transaction), and rolls both back when the callback throws', async () => {
    const pool = mysqlDriver.createPool({ uri: mysqlUrl, connectionLimit: 1 });
    try {
      await mysql2Transaction(pool, async (conn) => {
        await conn.query(`INSERT INTO ${orders} (id) VALUES (?)`, [1]);
        // Keyed messages on an ordered table: the key counters, then the messages. The handle
        // knows it is in a transaction, so it needs no result to tell.
        expect(mysql2Connection(conn).transactionState?.()).toBe('transaction');
        await outbox.add(mysql2Connection(conn), [
          { topic: 'placed-1', key: '1', payload: 1 },
          { topic: 'placed-1b', key: '1', payload: 2 },
        ]);
      });
      const error = await rejection(
        mysql2Transaction(pool, async (conn) => {
          await conn.query(`INSERT INTO ${orders} (id) VALUES (?)`, [2]);
          await outbox.add(mysql2Connection(conn), { topic: 'placed-2', key: '2', payload: 3 });
          throw new Error('payment declined');
        }),
      );
      expect(String(error)).toContain('payment declined');
      expect(await orderIds()).toEqual([1]);
      expect(await topics()).toEqual(['placed-1', 'placed-1b']);
    } finally {
      await pool.end();
      await clear();
    }
  });

  it('a session killed mid-transaction (as a restart) fails that transaction only: no crash, nothing of it committed, the next one gets a new connection', async () => {
    const pool = mysqlDriver.createPool({ uri: mysqlUrl, connectionLimit: 1 });
    try {
      let killedThread = 0;
      const error = await rejection(
        mysql2Transaction(pool, async (conn) => {
          await conn.query(`INSERT INTO ${orders} (id) VALUES (?)`, [10]);
          killedThread = conn.threadId!;
          await admin.query(`KILL CONNECTION ${Number(killedThread)}`);
          await outbox.add(mysql2Connection(conn), { topic: 'lost-10', key: '10', payload: 1 });
        }),
      );
      expect(error).toBeInstanceOf(Error);
      const thread = await mysql2Transaction(pool, async (conn) => {
        await conn.query(`INSERT INTO ${orders} (id) VALUES (?)`, [11]);
        await outbox.add(mysql2Connection(conn), { topic: 'placed-11', key: '11', payload: 2 });
        return conn.threadId;
      });
      expect(thread).not.toBe(killedThread);
      expect(await orderIds()).toEqual([11]);
      expect(await topics()).toEqual(['placed-11']);
    } finally {
      await pool.end();
      await clear();
    }
  });

  it('mysql2Connection(conn) made inside refuses writes once the transaction is over; a callback-API pool works through .promise()', async () => {
    const pool = mysqlDriver.createPool({ uri: mysqlUrl, connectionLimit: 1 });
    try {
      let leaked: Executor | undefined;
      await mysql2Transaction(pool.pool, async (conn) => {
        leaked = mysql2Connection(conn);
        await outbox.add(leaked, { topic: 'inside', key: 'a', payload: 1 });
      });
      expect(leaked!.transactionState?.()).toBe('ended');
      const after = await rejection(outbox.add(leaked!, { topic: 'after', key: 'a', payload: 2 }));
      expect(isOutboxError(after, 'NOT_IN_TRANSACTION')).toBe(true);
      expect(await topics()).toEqual(['inside']);
      const unknown = await rejection(mysql2Transaction(pool, async () => 1, { onError: () => {} } as never));
      expect(isOutboxError(unknown, 'INVALID_OPTION')).toBe(true);
    } finally {
      await pool.end();
      await clear();
    }
  });
});
