import { pgPool, postgres, SqlMessageStore } from '@troutbox/core';
import pg from 'pg';
import { schemaName } from '../../util.js';
import { eventPayload, type System } from '../types.js';

const batchSize = 500;

/**
 * The bare claim-and-mark loop of ../drain.ts's `rawDrain` (same SQL, same table, one
 * connection per worker process), kept running until stopped so it fits the worker process
 * model; what troutbox's relay would be if it did nothing else.
 */
export const raw: System = {
  id: 'raw',
  label: 'raw SQL loop',
  variants: {
    tuned: `BEGIN; SELECT … WHERE status = 'pending' … LIMIT ${batchSize} FOR UPDATE SKIP LOCKED; UPDATE … SET status = 'sent' WHERE id = ANY($1); COMMIT — one connection; producer: one hand-written INSERT`,
  },
  latency: false,

  async create(admin) {
    const schema = schemaName('cmp_raw');
    await new SqlMessageStore({ dialect: postgres({ schema }), db: pgPool(admin) }).migrate();
    return schema;
  },

  async seedBacklog(admin, count) {
    // Imported here, not at the top: worker processes must not load drain.ts's OpenTelemetry SDK.
    const { seed } = await import('../../drain.js');
    return (await seed(admin, count)).schema;
  },

  async producer(schema) {
    const table = `"${schema}".outbox_messages`;
    return {
      async enqueue(client, seq) {
        await client.query(
          `INSERT INTO ${table} (topic, key, payload, headers) VALUES ($1, $2, $3, $4::jsonb)`,
          ['orders', String(seq), Buffer.from(JSON.stringify(eventPayload(seq))), '{}'],
        );
      },
      async close() {},
    };
  },

  async consumer({ databaseUrl, schema, onHandled, wantSeq }) {
    const t = `"${schema}".outbox_messages`;
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
    pool.on('error', () => {});
    let running = false;
    let loop: Promise<void> = Promise.resolve();
    async function run() {
      const c = await pool.connect();
      try {
        while (running) {
          await c.query('BEGIN');
          const { rows } = await c.query(
            `SELECT id, topic, key, payload, content_type, headers, created_at, attempts FROM ${t}
             WHERE status = 'pending' AND available_at <= now() ORDER BY available_at, id LIMIT $1 FOR UPDATE SKIP LOCKED`,
            [batchSize],
          );
          for (const r of rows) onHandled(wantSeq ? JSON.parse(r.payload.toString()).seq : undefined);
          if (rows.length > 0) {
            await c.query(`UPDATE ${t} SET status = 'sent', sent_at = now() WHERE id = ANY($1::bigint[])`, [
              rows.map((r) => r.id),
            ]);
          }
          await c.query('COMMIT');
          // An empty table: look again shortly (the drain ends before this matters).
          if (rows.length === 0) await new Promise((r) => setTimeout(r, 20));
        }
      } finally {
        c.release();
      }
    }
    return {
      async start() {
        running = true;
        loop = run();
      },
      async stop() {
        running = false;
        await loop;
        await pool.end();
      },
    };
  },
};
