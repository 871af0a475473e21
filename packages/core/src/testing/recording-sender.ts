import type { OutboxMessage } from '../message.js';
import type { Sender, SendResult } from '../sender.js';

/** A sender for tests that records every delivery and answers with a programmable result. */
export interface RecordingSender extends Sender {
  /** Every message handed to `send`, in order, including re-deliveries. */
  readonly deliveries: OutboxMessage[];
  /** Ids of messages that got a `sent` result. */
  readonly sentIds: string[];
  /** Number of `send` calls. */
  readonly calls: number;
}

/**
 * Create a {@link RecordingSender}. `decide` picks each message's result (default: sent);
 * a throw from `decide` makes the whole `send` call throw.
 */
export function recordingSender(
  decide: (message: OutboxMessage, call: number) => SendResult | Promise<SendResult> = () => ({
    status: 'sent',
  }),
): RecordingSender {
  const deliveries: OutboxMessage[] = [];
  const sentIds: string[] = [];
  let calls = 0;
  return {
    name: 'recording',
    deliveries,
    sentIds,
    get calls() {
      return calls;
    },
    async send(messages) {
      const call = ++calls;
      deliveries.push(...messages);
      const results: SendResult[] = [];
      for (const m of messages) results.push(await decide(m, call));
      results.forEach((r, i) => {
        if (r.status === 'sent') sentIds.push(messages[i]!.id);
      });
      return results;
    },
  };
}
