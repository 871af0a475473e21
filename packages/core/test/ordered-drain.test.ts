// Rule: on an ordered table, a batch that sent messages is followed by another claim at once,
// until a claim sends nothing: an ordered claim can come back less than full while more of its
// keys' messages are due (a run stops at a gap in the key's seqs, and at its fair share among
// the keys walked, held-back keys included), and waiting a poll interval after each such batch
// would make a key drain at one run per poll.
import { afterEach, describe, expect, it } from 'vitest';
import { createRelay, payloadJson } from '../src/index.js';
import { waitFor } from '../src/testing/index.js';
import { createTestOutbox, databases, scriptedSender, type TestOutbox, withinDeadline } from './helpers.js';

let db: TestOutbox | undefined;
afterEach(async () => {
  await db?.close();
  db = undefined;
});

const BLOCKED_KEYS = 9;
const DUE = 40;
const POLL_MS = 60_000;

describe.each(databases)('ordered drain on $label', (database) => {
  /**
   * Key `k` with 40 due messages, its seqs with a gap after the fifth (a counter bump without a
   * message, as a producer refused after its counter statement leaves on MySQL), beside nine
   * keys whose only message is not due for an hour. Returns `k`'s payloads in commit order.
   */
  async function backlog(t: TestOutbox): Promise<number[]> {
    const inAnHour = new Date(Date.now() + 3_600_000);
    await t.add(
      Array.from({ length: BLOCKED_KEYS }, (_, i) => ({
        topic: 't',
        key: `a${i}`,
        payload: -1,
        availableAt: inAnHour,
      })),
    );
    await t.add(Array.from({ length: 5 }, (_, i) => ({ topic: 't', key: 'k', payload: i })));
    const keys = database.qualify(t.namespace, 'outbox_messages_keys');
    const key = database.name === 'postgres' ? 'key' : '`key`';
    await t.sql(`UPDATE ${keys} SET seq = seq + 3 WHERE ${key} = 'k'`);
    await t.add(Array.from({ length: DUE - 5 }, (_, i) => ({ topic: 't', key: 'k', payload: 5 + i })));
    return Array.from({ length: DUE }, (_, i) => i);
  }

  it('a key with 40 due messages drains without waiting for the poll interval, though its claims come back partial', async () => {
    db = await createTestOutbox(database, { prefix: 'orddrain', dialect: { ordering: 'key' } });
    const order = await backlog(db);
    const sender = scriptedSender();
    const sizes: number[] = [];
    const relay = createRelay({
      store: db.store,
      sender,
      batchSize: 10,
      pollIntervalMs: POLL_MS,
      listen: false,
    });
    relay.on('batch', ({ size }) => sizes.push(size));
    await relay.start();
    try {
      await waitFor(async () => (await db!.store.stats()).sent === DUE, {
        timeoutMs: 10_000,
        message: `the key's ${DUE} messages sent well within one poll interval (${POLL_MS} ms)`,
      });
    } finally {
      await relay.stop();
    }
    // Some claims really were partial.
    expect(sizes.some((n) => n < 10)).toBe(true);
    expect(sender.deliveries.map((m) => payloadJson<number>(m))).toEqual(order);
    expect(await db.store.stats()).toMatchObject({ pending: BLOCKED_KEYS, due: 0 });
  });

  it('runOnce on an ordered table goes on after partial batches while they send, until one sends nothing', async () => {
    db = await createTestOutbox(database, { prefix: 'orddrain', dialect: { ordering: 'key' } });
    const order = await backlog(db);
    const sender = scriptedSender();
    const relay = createRelay({ store: db.store, sender, batchSize: 10, pollIntervalMs: POLL_MS });
    const summary = await withinDeadline(relay.runOnce(), 10_000, 'runOnce');
    expect(summary).toMatchObject({ sent: DUE, retried: 0, dead: 0 });
    expect(sender.deliveries.map((m) => payloadJson<number>(m))).toEqual(order);
  });
});
