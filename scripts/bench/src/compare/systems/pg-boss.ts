import type pg from 'pg';
import { PgBoss, type WorkOptions } from 'pg-boss';
import { databaseUrl as defaultUrl, schemaName } from '../../util.js';
import { eventPayload, type System, type VariantName } from '../types.js';

const queue = 'bench';

/**
 * pgboss.io/api/workers and the WorkOptions docs: `batchSize` hands the handler an array,
 * `localConcurrency` runs several polling workers in one process, `burstWhenBatchFull`
 * fetches again at once while batches come back full, and `useListenNotify` + a queue with
 * `notify: true` wakes workers when a job is created instead of at the next poll.
 */
const tunedWork: WorkOptions = {
  batchSize: 500,
  localConcurrency: 4,
  burstWhenBatchFull: true,
  pollingIntervalSeconds: 0.5,
};

function boss(schema: string, variant: VariantName, url: string, role: 'admin' | 'worker'): PgBoss {
  const b = new PgBoss({
    connectionString: url,
    schema,
    ...(variant === 'tuned' ? { useListenNotify: true } : {}),
    // Producers and the set-up instance run no maintenance; workers keep pg-boss's defaults.
    ...(role === 'admin' ? { supervise: false, schedule: false } : {}),
  });
  b.on('error', () => {});
  return b;
}

async function created(variant: VariantName): Promise<{ schema: string; admin: PgBoss }> {
  const schema = schemaName('cmp_pgboss');
  const admin = boss(schema, variant, defaultUrl, 'admin');
  await admin.start();
  await admin.createQueue(queue, variant === 'tuned' ? { notify: true } : {});
  return { schema, admin };
}

export const pgBoss: System = {
  id: 'pg-boss',
  label: 'pg-boss',
  packageName: 'pg-boss',
  variants: {
    tuned:
      'new PgBoss({ useListenNotify: true }); createQueue(q, { notify: true }); work(q, { batchSize: 500, localConcurrency: 4, burstWhenBatchFull: true, pollingIntervalSeconds: 0.5 }, handler)',
    defaults:
      'new PgBoss({}); createQueue(q); work(q, handler) → batchSize 1, localConcurrency 1, pollingIntervalSeconds 2, no NOTIFY',
  },
  latency: true,

  async create(_admin: pg.Pool, variant) {
    const { schema, admin } = await created(variant);
    await admin.stop({ graceful: false });
    return schema;
  },

  async seedBacklog(_admin, count, variant) {
    const { schema, admin } = await created(variant);
    // insert() is pg-boss's bulk API: one statement per call.
    for (let from = 1; from <= count; from += 5000) {
      const jobs = [];
      for (let seq = from; seq < Math.min(count + 1, from + 5000); seq++)
        jobs.push({ data: eventPayload(seq) });
      await admin.insert(queue, jobs);
    }
    await admin.stop({ graceful: false });
    return schema;
  },

  async producer(schema, variant, url) {
    const b = boss(schema, variant, url, 'admin');
    await b.start();
    return {
      // send(…, { db }) joins the caller's transaction (the docs' ConnectionOptions).
      async enqueue(client, seq) {
        await b.send(queue, eventPayload(seq), {
          db: { executeSql: (text: string, values?: unknown[]) => client.query(text, values as any[]) },
        });
      },
      async close() {
        await b.stop({ graceful: false });
      },
    };
  },

  async consumer({ databaseUrl, schema, variant, onHandled, wantSeq }) {
    const b = boss(schema, variant, databaseUrl, 'worker');
    await b.start();
    return {
      async start() {
        await b.work<{ seq: number }>(queue, variant === 'tuned' ? tunedWork : {}, async (jobs) => {
          for (const job of jobs) onHandled(wantSeq ? job.data.seq : undefined);
        });
      },
      async stop() {
        await b.stop({ graceful: true, timeout: 5000 });
      },
    };
  },
};
