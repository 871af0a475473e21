import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import {
  createOutbox,
  createRelay,
  postgres,
  SqlMessageStore,
  type TransactionalExecutor,
} from '@troutbox/core';
import { natsSender } from '@troutbox/nats';

export interface NatsExampleOptions {
  db: TransactionalExecutor;
  servers: string;
  /** JetStream stream holding `<subjectPrefix>>`; created if missing, deleted at the end when `cleanup`. */
  stream: string;
  subjectPrefix: string;
  schema: string;
  orders?: number;
  cleanup?: boolean;
  log?: (line: string) => void;
}

/**
 * Orders and their `OrderPlaced` messages commit together (one in five rolls back); a relay
 * publishes committed messages to JetStream with `Nats-Msg-Id` = the outbox id; a consumer reads
 * the stream back. Returns what the consumer saw.
 */
export async function runNatsExample(options: NatsExampleOptions) {
  const log = options.log ?? (() => {});
  const { db, stream, subjectPrefix } = options;
  const nc = await connect({ servers: options.servers });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: stream, subjects: [`${subjectPrefix}>`], duplicate_window: 120_000_000_000 });

  const store = new SqlMessageStore({ dialect: postgres({ schema: options.schema }), db });
  await store.migrate();
  await db.query(
    `CREATE TABLE IF NOT EXISTS "${options.schema}".orders (id integer PRIMARY KEY, total integer NOT NULL)`,
  );
  const relay = createRelay({
    store,
    sender: natsSender({ servers: options.servers, subjectPrefix }),
    pollIntervalMs: 100,
    closeSender: true,
  });
  const outbox = createOutbox({ dialect: store.dialect, onAdd: () => relay.wake() });
  await relay.start();

  const orders = options.orders ?? 10;
  const committed: number[] = [];
  for (let id = 1; id <= orders; id++) {
    try {
      await db.transaction(async (tx) => {
        await tx.query(`INSERT INTO "${options.schema}".orders (id, total) VALUES ($1, $2)`, [id, id * 7]);
        await outbox.add(tx, {
          topic: 'orders.placed',
          key: String(id),
          payload: { type: 'OrderPlaced', id },
        });
        if (id % 5 === 0) throw new Error('card declined');
      });
      committed.push(id);
    } catch {
      log(`order ${id} rolled back: its message is never published`);
    }
  }

  // Read the stream back with an ordered consumer until every committed order has arrived.
  const js = jetstream(nc);
  const consumer = await js.consumers.get(stream);
  const seen: { subject: string; msgId: string | undefined; id: number }[] = [];
  const deadline = Date.now() + 20_000;
  while (seen.length < committed.length && Date.now() < deadline) {
    const batch = await consumer.fetch({ max_messages: 100, expires: 1000 });
    for await (const m of batch) {
      const event = m.json<{ id: number }>();
      seen.push({ subject: m.subject, msgId: m.headers?.get('Nats-Msg-Id'), id: event.id });
      log(`  ← ${m.subject} Nats-Msg-Id=${m.headers?.get('Nats-Msg-Id')} order ${event.id}`);
    }
  }
  await relay.stop();
  if (options.cleanup) {
    await jsm.streams.delete(stream);
    await db.query(`DROP SCHEMA "${options.schema}" CASCADE`);
  }
  await nc.close();
  return { committed, seen };
}
