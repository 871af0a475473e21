// A relay in a process of its own, for the wake-up latency benchmark: nothing in it shares a
// process with the producers, so only LISTEN/NOTIFY (or the poll) can wake it. It reports each
// message it is handed as [seq, epoch ms] to its parent, and stops on 'stop'.
//   argv: <schema> <pollIntervalMs>
import {
  createRelay,
  type OutboxMessage,
  payloadJson,
  pgPool,
  postgres,
  type SendResult,
  SqlMessageStore,
  sent,
} from '@troutbox/core';
import { newPool } from './util.js';

const [schema, poll] = process.argv.slice(2);
const pool = newPool(4);
const store = new SqlMessageStore({ dialect: postgres({ schema: schema! }), db: pgPool(pool) });
const now = () => performance.timeOrigin + performance.now();
const relay = createRelay({
  store,
  batchSize: 500,
  concurrency: 2,
  pollIntervalMs: Number(poll ?? 1000),
  telemetry: false,
  sender: {
    async send(messages: readonly OutboxMessage[]): Promise<SendResult[]> {
      const at = now();
      process.send?.(messages.map((m) => [payloadJson<{ seq: number }>(m).seq, at]));
      return messages.map(() => sent());
    },
  },
});
relay.on('error', ({ error, operation }) => console.error(`relay ${operation}:`, error));
await relay.start();
process.send?.('started');
process.on('message', async (message) => {
  if (message !== 'stop') return;
  await relay.stop();
  await pool.end();
  process.exit(0);
});
