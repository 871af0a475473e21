import { describeError } from './errors.js';
import type { OutboxMessage } from './message.js';

/**
 * The outcome of delivering one message.
 * - `sent`: the broker acknowledged it; it will not be sent again.
 * - `retry`: a transient failure; it costs one attempt and is retried after a backoff
 *   (or after `retryAfterMs` when the sender knows better, at most `backoff.maxDelayMs`), until `maxAttempts`.
 * - `dead`: a permanent failure (unroutable, rejected as malformed); it goes to the dead letters now.
 */
export type SendResult =
  | { readonly status: 'sent' }
  | { readonly status: 'retry'; readonly error: unknown; readonly retryAfterMs?: number }
  | { readonly status: 'dead'; readonly error: unknown };

/** What the relay passes to {@link Sender.send} besides the messages. */
export interface SendContext {
  /** Aborted when `sendTimeout` passes or the relay is stopped past its drain deadline. */
  readonly signal: AbortSignal;
}

/**
 * Delivers messages to a broker. The one contract a broker package implements.
 *
 * `send` returns one {@link SendResult} per message, in the order given. A throw (or a
 * rejected promise) means the whole batch failed: every message in it is counted one attempt
 * and retried. Returning fewer results than messages is treated the same way for the missing
 * ones — a message is never taken as sent without a `sent` result.
 *
 * @example
 * ```ts
 * const webhook: Sender = {
 *   name: 'webhook',
 *   async send(messages, { signal }) {
 *     return settleEach(messages, async (m) => {
 *       const res = await fetch(url, { method: 'POST', body: m.payload, signal });
 *       if (res.status >= 500) return retry(new Error(`HTTP ${res.status}`));
 *       if (!res.ok) return dead(new Error(`HTTP ${res.status}`));
 *       return sent();
 *     });
 *   },
 * };
 * ```
 */
export interface Sender {
  /** A short name for logs and telemetry (`rabbitmq`, `kafka`…). */
  readonly name?: string;
  send(messages: readonly OutboxMessage[], context: SendContext): Promise<readonly SendResult[]>;
  /** Release connections. Called by `relay.stop()` when the relay owns the sender. */
  close?(): Promise<void>;
}

const SENT: SendResult = Object.freeze({ status: 'sent' });

/** The result for a delivered message. */
export function sent(): SendResult {
  return SENT;
}

/** The result for a transient failure, retried with backoff (or after `retryAfterMs`). */
export function retry(error: unknown, retryAfterMs?: number): SendResult {
  return retryAfterMs === undefined ? { status: 'retry', error } : { status: 'retry', error, retryAfterMs };
}

/** The result for a permanent failure: the message goes to the dead letters at once. */
export function dead(error: unknown): SendResult {
  return { status: 'dead', error };
}

/**
 * Run `deliver` for every message concurrently (at most `concurrency` at a time) and turn each
 * outcome into a result: a returned result is kept, a resolved `undefined` means sent, a throw
 * means retry — unless `classify` says the error is permanent.
 */
export async function settleEach(
  messages: readonly OutboxMessage[],
  deliver: (message: OutboxMessage, index: number) => Promise<SendResult | undefined>,
  options: {
    concurrency?: number;
    classify?: (error: unknown, message: OutboxMessage) => 'retry' | 'dead';
  } = {},
): Promise<SendResult[]> {
  const results = new Array<SendResult>(messages.length);
  const limit = Math.max(1, Math.min(options.concurrency ?? messages.length, messages.length));
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < messages.length; i = next++) {
      const message = messages[i]!;
      try {
        results[i] = (await deliver(message, i)) ?? SENT;
      } catch (error) {
        results[i] = options.classify?.(error, message) === 'dead' ? dead(error) : retry(error);
      }
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
  return results;
}

/** Results for a batch where every message failed the same way. */
export function failAll(messages: readonly OutboxMessage[], error: unknown): SendResult[] {
  const r = retry(error);
  return messages.map(() => r);
}

/** Decode a message's headers plus troutbox's own: `outbox-id`, `outbox-topic`. Useful for brokers with free-form headers. */
export function deliveryHeaders(message: OutboxMessage): Record<string, string> {
  return { ...message.headers, 'outbox-id': message.id, 'outbox-topic': message.topic };
}

/** Summarise results for logs: counts per status. */
export function countResults(results: readonly SendResult[]): { sent: number; retry: number; dead: number } {
  const counts = { sent: 0, retry: 0, dead: 0 };
  for (const r of results) counts[r.status]++;
  return counts;
}

export { describeError };
