// Rule: a write through a handle that is not in an open transaction is refused before any SQL
// (NOT_IN_TRANSACTION), unless the outbox opted into autocommit; a handle whose transaction has
// ended is always refused. Checked on core's own executors: node-postgres, PGlite and mysql2.
import { PGlite } from '@electric-sql/pglite';
import mysqlDriver from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createOutbox,
  type Executor,
  isOutboxError,
  mysql,
  mysql2Pool,
  pgClient,
  pglite,
  pgPool,
  postgres,
} from '../src/index.js';
import { uniqueName } from '../src/testing/index.js';
import { mysqlUrl, pgUrl } from './databases.js';

const message = { topic: 'guard', payload: { n: 1 } };

/** An executor that records every statement before passing it on. */
function watched(db: Executor): Executor & { statements: string[] } {
  const statements: string[] = [];
  return Object.assign(Object.create(null), db, {
    statements,
    query: (sql: string, params?: readonly unknown[]) => {
      statements.push(sql);
      return db.query(sql, params);
    },
  });
}

async function refused(promise: Promise<unknown>): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isOutboxError(error, 'NOT_IN_TRANSACTION'), String(error)).toBe(true);
}

describe('PostgreSQL (node-postgres)', () => {
  const schema = uniqueName('guard');
  const dialect = postgres({ schema });
  let pool: pg.Pool;
  const count = async () =>
    Number((await pool.query(`SELECT count(*) AS n FROM ${dialect.tableName}`)).rows[0].n);

  beforeAll(async () => {
    pool = new pg.Pool({ connectionString: pgUrl, max: 3 });
    await dialect.migrate(pgPool(pool));
  });
  afterAll(async () => {
    await pool.query(`DROP SCHEMA "${schema}" CASCADE`);
    await pool.end();
  });

  it('refuses a write through the pool before any SQL, and accepts it with autocommit: true', async () => {
    const db = watched(pgPool(pool));
    await refused(createOutbox({ dialect }).add(db, message));
    expect(db.statements).toEqual([]);
    expect(await createOutbox({ dialect, autocommit: true }).add(db, message)).toBe(1);
    expect(await count()).toBe(1);
    await pool.query(`DELETE FROM ${dialect.tableName}`);
  });

  it('refuses a checked-out client outside BEGIN, and writes inside it', async () => {
    const client = await pool.connect();
    try {
      const outbox = createOutbox({ dialect });
      await refused(outbox.add(pgClient(client), message));
      await client.query('BEGIN');
      expect(await outbox.add(pgClient(client), message)).toBe(1);
      await client.query('ROLLBACK');
      await refused(outbox.add(pgClient(client), message));
      expect(await count()).toBe(0);
    } finally {
      client.release();
    }
  });

  it('refuses the handle of a pgPool transaction once it has ended', async () => {
    const outbox = createOutbox({ dialect });
    let kept: Executor | undefined;
    await pgPool(pool).transaction(async (tx) => {
      kept = tx;
      await outbox.add(tx, message);
    });
    await refused(outbox.add(kept!, message));
    await expect(
      pgPool(pool).transaction(async (tx) => {
        kept = tx;
        throw new Error('business failure');
      }),
    ).rejects.toThrow('business failure');
    await refused(outbox.add(kept!, message));
    expect(await count()).toBe(1);
    await pool.query(`DELETE FROM ${dialect.tableName}`);
  });
});

describe('PGlite', () => {
  it('refuses the instance outside a transaction and a transaction that has closed', async () => {
    const db = new PGlite();
    try {
      const dialect = postgres();
      await dialect.migrate(pglite(db));
      const outbox = createOutbox({ dialect });
      await refused(outbox.add(pglite(db), message));
      let kept: Executor | undefined;
      await db.transaction(async (tx) => {
        kept = pglite(tx);
        expect(await outbox.add(kept, message)).toBe(1);
      });
      await refused(outbox.add(kept!, message));
      expect(await createOutbox({ dialect, autocommit: true }).add(pglite(db), message)).toBe(1);
      const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${dialect.tableName}`);
      expect(rows[0]!.n).toBe(2);
    } finally {
      await db.close();
    }
  });
});

describe('MariaDB (mysql2)', () => {
  const database = uniqueName('guard');
  const dialect = mysql({ database });
  let pool: mysqlDriver.Pool;

  beforeAll(async () => {
    pool = mysqlDriver.createPool({ uri: mysqlUrl, connectionLimit: 2 });
    await dialect.migrate(mysql2Pool(pool));
  });
  afterAll(async () => {
    await pool.query(`DROP DATABASE \`${database}\``);
    await pool.end();
  });

  it('refuses a write through the pool and through an ended transaction handle', async () => {
    const outbox = createOutbox({ dialect });
    const db = watched(mysql2Pool(pool));
    await refused(outbox.add(db, message));
    expect(db.statements).toEqual([]);
    let kept: Executor | undefined;
    await mysql2Pool(pool).transaction(async (tx) => {
      kept = tx;
      await outbox.add(tx, message);
    });
    await refused(outbox.add(kept!, message));
    const [rows] = await pool.query(`SELECT count(*) AS n FROM ${dialect.tableName}`);
    expect(Number((rows as { n: number }[])[0]!.n)).toBe(1);
  });
});
