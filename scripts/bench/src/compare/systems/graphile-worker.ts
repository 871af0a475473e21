import { Logger, type Runner, run, runMigrations } from 'graphile-worker';
import { databaseUrl, schemaName } from '../../util.js';
import { eventPayload, eventPayloadSql, type System, type VariantName } from '../types.js';

// Graphile Worker logs every job at info level; a benchmark keeps it quiet.
const logger = new Logger(() => () => {});

/**
 * worker.graphile.org/docs/performance: "concurrentJobs: 24, maxPoolSize: 25,
 * localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0" is the
 * configuration behind its published throughput figures.
 */
const tuned = {
  concurrency: 24,
  maxPoolSize: 25,
  preset: { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } },
};

const options: Record<
  VariantName,
  { concurrency?: number; maxPoolSize: number; preset?: typeof tuned.preset }
> = {
  tuned,
  // Defaults: concurrentJobs 1, maxPoolSize 10, pollInterval 2000 (LISTEN/NOTIFY wakes it), no local queue.
  defaults: { maxPoolSize: 10 },
};

async function migrated(): Promise<string> {
  const schema = schemaName('cmp_gw');
  await runMigrations({ connectionString: databaseUrl, schema, logger });
  return schema;
}

export const graphileWorker: System = {
  id: 'graphile-worker',
  label: 'graphile-worker',
  packageName: 'graphile-worker',
  variants: {
    tuned:
      'run({ concurrency: 24, maxPoolSize: 25, preset: { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } } }) — the docs\u2019 performance configuration',
    defaults:
      'run({ taskList }) → concurrency 1, maxPoolSize 10, pollInterval 2000 ms (+ LISTEN/NOTIFY), no local queue',
  },
  latency: true,

  create: () => migrated(),

  async seedBacklog(admin, count) {
    const schema = await migrated();
    // add_jobs (its documented bulk API), one call per 20,000 jobs.
    for (let from = 1; from <= count; from += 20_000) {
      const to = Math.min(count, from + 19_999);
      await admin.query(
        `SELECT count(*) FROM "${schema}".add_jobs(ARRAY(
           SELECT ROW('bench', ${eventPayloadSql}, NULL, NULL, NULL, NULL, NULL, NULL)::"${schema}".job_spec
           FROM generate_series($1::int, $2::int) AS g))`,
        [from, to],
      );
    }
    return schema;
  },

  async producer(schema) {
    return {
      // The docs' way to enqueue inside your own transaction: SELECT graphile_worker.add_job(…).
      async enqueue(client, seq) {
        await client.query(`SELECT "${schema}".add_job($1, $2::json)`, [
          'bench',
          JSON.stringify(eventPayload(seq)),
        ]);
      },
      async close() {},
    };
  },

  async consumer({ databaseUrl, schema, variant, onHandled, wantSeq }) {
    let runner: Runner | undefined;
    return {
      async start() {
        // Its own pool from connectionString + maxPoolSize, with its own error handlers, as documented.
        runner = await run({
          ...options[variant],
          connectionString: databaseUrl,
          schema,
          logger,
          noHandleSignals: true,
          parsedCronItems: [],
          taskList: {
            bench: async (payload) => {
              onHandled(wantSeq ? (payload as { seq: number }).seq : undefined);
            },
          },
        });
      },
      async stop() {
        await runner?.stop();
      },
    };
  },
};
