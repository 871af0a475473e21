import { PGlite } from '@electric-sql/pglite';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createRelay,
  type Executor,
  encodeMessages,
  pglite,
  postgres,
  type Relay,
  SqlMessageStore,
} from '../src/index.js';
import { uniqueName, waitFor } from '../src/testing/index.js';
import { createTestOutbox, databases, observedStore, scriptedSender, type TestOutbox } from './helpers.js';

// Wake-ups: a relay that would poll only every ten minutes still delivers within moments, woken
// by LISTEN/NOTIFY (PostgreSQL, PGlite) or in-process by a write through troutbox.

let db: TestOutbox | undefined;
const relays: Relay[] = [];
afterEach(async () => {
  await Promise.all(relays.splice(0).map((r) => r.stop()));
  await db?.close();
  db = undefined;
});

const TEN_MINUTES = 600_000;

/**
 * Write a message with the dialect's own statements on `executor`, not through `outbox.add`:
 * no in-process wake-up, so only a notification (or the poll) can tell the relay.
 */
async function writeBehindTheRelaysBack(
  dialect: ReturnType<typeof postgres>,
  executor: Executor,
  payload: number,
): Promise<string[]> {
  const statements = dialect.insert(encodeMessages([{ topic: 'woken', payload }]));
  for (const s of statements) await executor.query(s.sql, s.params);
  return statements.map((s) => s.sql);
}

describe.each(databases)('in-process wake-ups on $label', (database) => {
  it('a write through troutbox wakes the relays of its table in this process at once', async () => {
    db = await createTestOutbox(database, { prefix: 'wake' });
    const sender = scriptedSender();
    const store = observedStore(db.store);
    const relay = createRelay({ store, sender, pollIntervalMs: TEN_MINUTES, listen: false });
    relays.push(relay);
    await relay.start();
    // The first look finds nothing; from now on only a wake-up brings the relay back.
    await waitFor(() => store.claims >= 1);
    const started = Date.now();
    await db.add({ topic: 'woken', payload: 1 });
    await waitFor(() => sender.deliveries.length === 1, { timeoutMs: 10_000, message: 'the woken delivery' });
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

describe.each(databases.filter((d) => d.name === 'postgres'))('LISTEN/NOTIFY on $label', (database) => {
  const notifying = { notify: { minIntervalMs: 0 } } as const;

  it('the relay is woken by the notification of a commit in another session; a killed listening connection reconnects by itself', async () => {
    db = await createTestOutbox(database, { prefix: 'notify' });
    const dialect = postgres({ schema: db.namespace, ...notifying });
    const store = observedStore(db.newStore({ connections: 2 }).store);
    const sender = scriptedSender();
    const relay = createRelay({
      store,
      sender,
      pollIntervalMs: TEN_MINUTES,
      listenRetryDelayMs: 300,
    });
    relays.push(relay);
    const errors: string[] = [];
    relay.on('error', ({ operation }) => errors.push(operation));
    const listenSql = `LISTEN "troutbox:${db.namespace}.outbox_messages"`;
    // The backend of the listening connection, once it is listening.
    const listener = async () => {
      const rows = await db!.sql<{ pid: number }>(
        "SELECT pid FROM pg_stat_activity WHERE query = ? AND state = 'idle'",
        [listenSql],
      );
      return rows.length === 1 ? rows[0]!.pid : null;
    };
    await relay.start();
    const first = await waitFor(listener, { message: 'the listening connection' });
    await waitFor(() => store.claims >= 1);

    // A commit in another session, not through this process's outbox: only NOTIFY can tell.
    const sql = await writeBehindTheRelaysBack(dialect, db.pool.db, 1);
    expect(sql[0]).toContain('pg_notify');
    await waitFor(() => sender.deliveries.length === 1, {
      timeoutMs: 5_000,
      message: 'the notified delivery',
    });

    // An operator ends the listening connection.
    const [killed] = await db.sql<{ ok: boolean }>('SELECT pg_terminate_backend(?) AS ok', [first]);
    expect(killed!.ok).toBe(true);
    // Committed while nobody listens: the reconnect wakes the relay once, and it finds it.
    await writeBehindTheRelaysBack(dialect, db.pool.db, 2);
    await waitFor(() => sender.deliveries.length === 2, {
      timeoutMs: 5_000,
      message: 'the message committed after the kill',
    });
    const second = await waitFor(
      async () => {
        const pid = await listener();
        return pid !== null && pid !== first ? pid : null;
      },
      { message: 'the listening connection, reopened' },
    );
    expect(second).not.toBe(first);
    expect(errors).toContain('listen');
    await writeBehindTheRelaysBack(dialect, db.pool.db, 3);
    await waitFor(() => sender.deliveries.length === 3, {
      timeoutMs: 5_000,
      message: 'a notified delivery after the reconnect',
    });
    expect(sender.deliveries.map((m) => new TextDecoder().decode(m.payload))).toEqual(['1', '2', '3']);
  });

  it('with notifications off, no NOTIFY is written and polling still delivers', async () => {
    db = await createTestOutbox(database, { prefix: 'poll' });
    const dialect = postgres({ schema: db.namespace, notify: false });
    const store = new SqlMessageStore({ dialect, db: db.pool.db });
    const sender = scriptedSender();
    const relay = createRelay({ store, sender, pollIntervalMs: 50, listen: false });
    relays.push(relay);
    await relay.start();
    const sql = await writeBehindTheRelaysBack(dialect, db.pool.db, 1);
    expect(sql.join('\n')).not.toContain('pg_notify');
    await waitFor(() => sender.deliveries.length === 1, { message: 'the polled delivery' });
  });

  it('notifications are rate-limited per table and process, inside the insert statement', async () => {
    const schema = uniqueName('rate');
    const a = postgres({ schema, notify: { minIntervalMs: 60_000 } });
    const b = postgres({ schema, notify: { minIntervalMs: 60_000 } });
    const other = postgres({ schema, table: 'other', notify: { minIntervalMs: 60_000 } });
    const one = encodeMessages([{ topic: 't', payload: 1 }]);
    const notifies = (d: typeof a) => d.insert(one).filter((s) => s.sql.includes('pg_notify')).length;
    expect(notifies(a)).toBe(1);
    // Within the interval: no NOTIFY, from this dialect or another instance on the same table.
    expect(notifies(a)).toBe(0);
    expect(notifies(b)).toBe(0);
    expect(notifies(other)).toBe(1);
    // One statement either way, the notification inside it, with the channel bound as a value.
    const [statement] = postgres({ schema: uniqueName('rate'), notify: { minIntervalMs: 0 } }).insert(one);
    expect(statement!.sql).toMatch(/^INSERT INTO .*\sCROSS JOIN \(SELECT pg_notify\(\$7, ''\)\) AS wake$/s);
    expect(statement!.params.at(-1)).toMatch(/^troutbox:rate_/);
    // Channel names stay within PostgreSQL's 63 bytes for the longest schema and table names.
    const long = postgres({ schema: 's'.repeat(48), table: 't'.repeat(48) });
    expect(long.channel.length).toBeLessThanOrEqual(63);
    expect(long.channel).toMatch(/^troutbox:-?\d+$/);
  });

  it('PGlite: a relay listens on the embedded database', async () => {
    const pg = await PGlite.create();
    try {
      const dialect = postgres({ schema: 'outbox', ...notifying });
      const sqlStore = new SqlMessageStore({ dialect, db: pglite(pg) });
      await sqlStore.migrate();
      const store = observedStore(sqlStore);
      const sender = scriptedSender();
      const relay = createRelay({ store, sender, pollIntervalMs: TEN_MINUTES });
      await relay.start();
      try {
        await waitFor(() => store.claims >= 1);
        // Let the relay's LISTEN go first (PGlite runs one query at a time).
        await pg.query('SELECT 1');
        await pg.transaction((tx) => writeBehindTheRelaysBack(dialect, pglite(tx), 7));
        await waitFor(() => sender.deliveries.length === 1, {
          timeoutMs: 5_000,
          message: 'the notified delivery',
        });
      } finally {
        await relay.stop();
      }
    } finally {
      await pg.close();
    }
  });
});
