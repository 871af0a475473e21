import {
  createOutbox,
  createRelay,
  type OutboxMessage,
  payloadJson,
  pgClient,
  pgPool,
  postgres,
  type SendResult,
  SqlMessageStore,
  sent,
} from '@troutbox/core';
import pg from 'pg';
import { schemaName } from '../../util.js';
import { eventPayload, type System, type VariantName } from '../types.js';

const relayOptions: Record<VariantName, { batchSize?: number; concurrency?: number }> = {
  // The README's recommendation: batchSize 500. Two batches in flight overlap one batch's
  // round trips with the other's.
  tuned: { batchSize: 500, concurrency: 2 },
  defaults: {},
};

export const troutbox: System = {
  id: 'troutbox',
  label: 'troutbox',
  packageName: '@troutbox/core',
  variants: {
    tuned:
      'createRelay({ batchSize: 500, concurrency: 2 }) (pollIntervalMs 500 default); producer in the relay process wakes it: createOutbox({ onAdd: () => relay.wake() })',
    defaults: 'createRelay({}) → batchSize 200, concurrency 1, pollIntervalMs 500; no wake-up (polling only)',
  },
  latency: true,

  async create(admin) {
    const schema = schemaName('cmp_troutbox');
    await new SqlMessageStore({ dialect: postgres({ schema }), db: pgPool(admin) }).migrate();
    return schema;
  },

  async seedBacklog(admin, count) {
    // Imported here, not at the top: worker processes must not load drain.ts's OpenTelemetry SDK.
    const { seed } = await import('../../drain.js');
    // ../drain.ts's seed: one INSERT … SELECT generate_series into a freshly migrated table.
    return (await seed(admin, count)).schema;
  },

  async producer(schema, _variant, _databaseUrl, wake) {
    const outbox = createOutbox({ dialect: postgres({ schema }), ...(wake ? { onAdd: wake } : {}) });
    return {
      async enqueue(client, seq) {
        await outbox.add(pgClient(client), { topic: 'orders', key: String(seq), payload: eventPayload(seq) });
      },
      async close() {},
    };
  },

  async consumer({ databaseUrl, schema, variant, onHandled, wantSeq }) {
    const options = relayOptions[variant];
    const pool = new pg.Pool({ connectionString: databaseUrl, max: (options.concurrency ?? 1) + 1 });
    pool.on('error', () => {});
    const sender = {
      async send(messages: readonly OutboxMessage[]): Promise<SendResult[]> {
        for (const m of messages) onHandled(wantSeq ? payloadJson<{ seq: number }>(m).seq : undefined);
        return messages.map(() => sent());
      },
    };
    const relay = createRelay({
      store: new SqlMessageStore({ dialect: postgres({ schema }), db: pgPool(pool) }),
      sender,
      ...options,
    });
    return {
      start: () => relay.start(),
      async stop() {
        await relay.stop();
        await pool.end();
      },
      // Only the tuned variant wires the producer's onAdd to it.
      ...(variant === 'tuned' ? { wake: () => relay.wake() } : {}),
    };
  },
};
