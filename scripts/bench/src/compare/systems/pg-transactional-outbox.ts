import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import {
  DatabaseSetup,
  getDisabledLogger,
  initializeMessageStorage,
  initializePollingMessageListener,
} from 'pg-transactional-outbox';
import { schemaName } from '../../util.js';
import { eventPayload, eventPayloadSql, type System, type VariantName } from '../types.js';

const table = 'outbox';
const nextMessagesName = 'next_outbox_messages';
const logger = getDisabledLogger();

/**
 * Its README: the polling listener reads `nextMessagesBatchSize` messages per call of the
 * polling function (default 5) every `nextMessagesPollingIntervalInMs` (default 500) and
 * handles each in its own transaction on the handler pool; messages stored with
 * `concurrency: 'parallel'` may be handled side by side, otherwise one at a time per segment.
 */
const polling: Record<
  VariantName,
  { nextMessagesBatchSize?: number; nextMessagesPollingIntervalInMs?: number }
> = {
  tuned: { nextMessagesBatchSize: 50, nextMessagesPollingIntervalInMs: 50 },
  defaults: {},
};

const baseSettings = (schema: string) => ({
  dbSchema: schema,
  dbTable: table,
  // The outbox defaults of its README.
  enableMaxAttemptsProtection: false,
  enablePoisonousMessageProtection: false,
});

async function created(admin: pg.Pool): Promise<string> {
  const schema = schemaName('cmp_pgto');
  const config = {
    outboxOrInbox: 'outbox' as const,
    database: 'test',
    schema,
    table,
    listenerRole: 'postgres',
  };
  await admin.query(DatabaseSetup.dropAndCreateTable(config));
  await admin.query(DatabaseSetup.createPollingFunction({ ...config, nextMessagesName }));
  await admin.query(DatabaseSetup.setupPollingIndexes({ ...config, nextMessagesName }));
  return schema;
}

export const pgTransactionalOutbox: System = {
  id: 'pg-transactional-outbox',
  label: 'pg-transactional-outbox',
  packageName: 'pg-transactional-outbox',
  variants: {
    tuned:
      "polling listener { nextMessagesBatchSize: 50, nextMessagesPollingIntervalInMs: 50 }; messages stored with concurrency: 'parallel'",
    defaults:
      "polling listener {} → nextMessagesBatchSize 5, nextMessagesPollingIntervalInMs 500; messages with the default concurrency 'sequential'",
  },
  latency: true,

  create: created,

  async seedBacklog(admin, count, variant) {
    const schema = await created(admin);
    // It has no bulk API: one INSERT … SELECT into its documented table layout.
    await admin.query(
      `INSERT INTO "${schema}".${table} (id, aggregate_type, aggregate_id, message_type, concurrency, payload)
       SELECT gen_random_uuid(), 'order', g::text, 'order_placed', $2, ${eventPayloadSql}::jsonb
       FROM generate_series(1, $1::int) AS g`,
      [count, variant === 'tuned' ? 'parallel' : 'sequential'],
    );
    return schema;
  },

  async producer(schema, variant) {
    const store = initializeMessageStorage(
      { outboxOrInbox: 'outbox', settings: baseSettings(schema) },
      logger,
    );
    return {
      async enqueue(client, seq) {
        await store(
          {
            id: randomUUID(),
            aggregateType: 'order',
            aggregateId: String(seq),
            messageType: 'order_placed',
            payload: eventPayload(seq),
            createdAt: new Date().toISOString(),
            ...(variant === 'tuned' ? { concurrency: 'parallel' as const } : {}),
          },
          client,
        );
      },
      async close() {},
    };
  },

  async consumer({ databaseUrl, schema, variant, onHandled, wantSeq }) {
    let shutdown: (() => Promise<void>) | undefined;
    return {
      async start() {
        [shutdown] = initializePollingMessageListener(
          {
            outboxOrInbox: 'outbox',
            dbListenerConfig: { connectionString: databaseUrl },
            settings: {
              ...baseSettings(schema),
              nextMessagesFunctionSchema: schema,
              nextMessagesFunctionName: nextMessagesName,
              ...polling[variant],
            },
          },
          {
            handle: async (message) => {
              onHandled(wantSeq ? (message.payload as { seq: number }).seq : undefined);
            },
          },
          logger,
        );
      },
      async stop() {
        await shutdown?.();
      },
    };
  },
};
