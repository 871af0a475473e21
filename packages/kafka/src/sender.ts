import {
  dead,
  type OutboxMessage,
  retry,
  type SendContext,
  type Sender,
  type SendResult,
  sent,
} from '@troutbox/core';
import kafkajs, { type Message } from 'kafkajs';
import {
  type KafkaFailurePolicy,
  type KafkaProducerLike,
  type KafkaSenderOptions,
  type ResolvedKafkaSenderOptions,
  resolveKafkaSenderOptions,
} from './options.js';

/** The sender returned by {@link kafkaSender}. */
export interface KafkaSender extends Sender {
  readonly name: 'kafka';
  readonly options: ResolvedKafkaSenderOptions;
  /** Disconnect the producer the sender created (a producer passed in is left to its owner). */
  close(): Promise<void>;
}

/**
 * Broker error types that the same message will meet again however often it is retried.
 * `MESSAGE_TOO_LARGE` is settled per message: a batch is resent one message at a time first,
 * because the broker compares the whole record batch of a partition with its size limit.
 */
const PERMANENT_TYPES = new Set([
  'MESSAGE_TOO_LARGE',
  'RECORD_LIST_TOO_LARGE',
  'INVALID_RECORD',
  'INVALID_TOPIC_EXCEPTION',
]);
const TOO_LARGE_TYPES = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE']);
const UNKNOWN_TOPIC = 'UNKNOWN_TOPIC_OR_PARTITION';

/** The kafkajs protocol error types (`MESSAGE_TOO_LARGE`…) in an error and its causes. */
export function kafkaErrorTypes(error: unknown): string[] {
  const types: string[] = [];
  const seen = new Set<unknown>();
  // kafkajs wraps the broker's error: KafkaJSNumberOfRetriesExceeded / KafkaJSNonRetriableError → cause.
  for (let e = error; typeof e === 'object' && e !== null && !seen.has(e) && seen.size < 8; ) {
    seen.add(e);
    const { type, cause, originalError } = e as { type?: unknown; cause?: unknown; originalError?: unknown };
    if (typeof type === 'string') types.push(type);
    e = cause ?? originalError;
  }
  return types;
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new Error('send aborted');
}

class KafkaSenderImpl implements KafkaSender {
  readonly name = 'kafka';
  readonly options: ResolvedKafkaSenderOptions;
  #producer: KafkaProducerLike | undefined;
  #connecting: Promise<KafkaProducerLike> | undefined;
  #closed = false;

  constructor(options: KafkaSenderOptions) {
    this.options = resolveKafkaSenderOptions(options, (config) => new kafkajs.Kafka(config));
  }

  /** The producer, created and connected on first use when the sender owns it. */
  #ready(): Promise<KafkaProducerLike> {
    if (this.#closed) return Promise.reject(new Error('kafka sender is closed'));
    if (this.#producer) return Promise.resolve(this.#producer);
    if (!this.#connecting) {
      const connecting = (async () => {
        const producer = this.options.createProducer();
        if (this.options.owned) await producer.connect();
        this.#producer = producer;
        return producer;
      })();
      this.#connecting = connecting;
      // A failed connect is retried on the next send (kafkajs backs off inside connect()).
      const clear = () => {
        if (this.#connecting === connecting) this.#connecting = undefined;
      };
      connecting.then(clear, clear);
    }
    return this.#connecting;
  }

  #classify(error: unknown, topic: string): KafkaFailurePolicy | 'split' {
    const custom = this.options.classify?.(error, topic);
    if (custom === 'dead' || custom === 'retry') return custom;
    const types = kafkaErrorTypes(error);
    if (types.some((t) => TOO_LARGE_TYPES.has(t))) return 'split';
    if (types.some((t) => PERMANENT_TYPES.has(t))) return 'dead';
    if (types.includes(UNKNOWN_TOPIC)) return this.options.unknownTopic;
    // Connection loss, leader changes, timeouts, throttling, anything unknown: try again later.
    return 'retry';
  }

  #record(message: OutboxMessage): Message {
    const { idHeader, attemptsHeader, contentTypeHeader } = this.options;
    const headers: Record<string, string> = { ...message.headers, [idHeader]: message.id };
    if (attemptsHeader !== null) headers[attemptsHeader] = String(message.attempts);
    if (contentTypeHeader !== null) headers[contentTypeHeader] = message.contentType;
    const { payload } = message;
    return {
      key: message.key,
      value: Buffer.isBuffer(payload)
        ? payload
        : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength),
      headers,
      timestamp: String(message.createdAt.getTime()),
    };
  }

  async #produce(
    producer: KafkaProducerLike,
    topic: string,
    messages: Message[],
    signal: AbortSignal,
  ): Promise<void> {
    const { timeoutMs, compression } = this.options;
    const sending = producer.send({
      topic,
      messages,
      acks: -1,
      timeout: timeoutMs,
      ...(compression === undefined ? {} : { compression }),
    });
    await whileNotAborted(sending, signal);
  }

  async #sendTopic(
    producer: KafkaProducerLike,
    topic: string,
    group: { index: number; message: OutboxMessage }[],
    results: (SendResult | undefined)[],
    signal: AbortSignal,
  ): Promise<void> {
    const records = group.map(({ message }) => this.#record(message));
    try {
      await this.#produce(producer, topic, records, signal);
      for (const { index } of group) results[index] = sent();
      return;
    } catch (error) {
      if (signal.aborted) return;
      this.#forgetIfDisconnected(error);
      const verdict = this.#classify(error, topic);
      if (verdict !== 'split' || group.length === 1) {
        const fail = verdict === 'retry' ? retry : dead;
        for (const { index } of group) results[index] = fail(error);
        return;
      }
    }
    // Too large as a batch: one at a time, in order, so only the message that is too large by
    // itself goes to the dead letters.
    for (const [i, { index }] of group.entries()) {
      if (signal.aborted) return;
      try {
        await this.#produce(producer, topic, [records[i]!], signal);
        results[index] = sent();
      } catch (error) {
        if (signal.aborted) return;
        this.#forgetIfDisconnected(error);
        results[index] = this.#classify(error, topic) === 'retry' ? retry(error) : dead(error);
      }
    }
  }

  #forgetIfDisconnected(error: unknown): void {
    // kafkajs refuses to send on a producer that was disconnected: connect a new one next time.
    if (this.options.owned && /producer is disconnected/i.test((error as Error)?.message ?? '')) {
      this.#producer = undefined;
    }
  }

  async send(messages: readonly OutboxMessage[], { signal }: SendContext): Promise<readonly SendResult[]> {
    const results = new Array<SendResult | undefined>(messages.length);
    const fillRest = (error: unknown): SendResult[] => {
      for (let i = 0; i < results.length; i++) results[i] ??= retry(error);
      return results as SendResult[];
    };
    if (messages.length === 0) return [];
    if (signal.aborted) return fillRest(abortReason(signal));

    const byTopic = new Map<string, { index: number; message: OutboxMessage }[]>();
    messages.forEach((message, index) => {
      let topic: string;
      try {
        topic = this.options.topic(message);
        if (typeof topic !== 'string' || topic.length === 0 || topic.length > 249) {
          throw new TypeError(
            `topic must return a Kafka topic name (1 to 249 characters), got ${String(topic)}`,
          );
        }
      } catch (error) {
        // The mapping is deterministic: retrying the same message could not help.
        results[index] = dead(error);
        return;
      }
      const group = byTopic.get(topic);
      if (group) group.push({ index, message });
      else byTopic.set(topic, [{ index, message }]);
    });

    let producer: KafkaProducerLike;
    try {
      producer = await whileNotAborted(this.#ready(), signal);
    } catch (error) {
      return fillRest(error);
    }
    // One produce call per topic, all at once: a failing topic fails only its own messages.
    await Promise.all(
      [...byTopic].map(([topic, group]) => this.#sendTopic(producer, topic, group, results, signal)),
    );
    return fillRest(signal.aborted ? abortReason(signal) : new Error('kafka message was not sent'));
  }

  async close(): Promise<void> {
    this.#closed = true;
    const producer = this.#producer ?? (await this.#connecting?.catch(() => undefined));
    this.#producer = undefined;
    if (producer && this.options.owned) await producer.disconnect();
  }
}

/** `promise`, or a rejection with the abort reason as soon as `signal` aborts. */
function whileNotAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(abortReason(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortReason(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/**
 * A {@link Sender} that produces to Kafka with an idempotent producer and `acks: -1` (all
 * in-sync replicas): a message counts as sent once every in-sync replica has it. The outbox key
 * becomes the Kafka message key, so the messages of one key go to one partition, in order.
 *
 * @example
 * ```ts
 * import { createRelay } from '@troutbox/core';
 * import { kafkaSender } from '@troutbox/kafka';
 *
 * const sender = kafkaSender({ brokers: ['localhost:9092'], topicPrefix: 'app.' });
 * const relay = createRelay({ store, sender, batchSize: 500, closeSender: true });
 * await relay.start();
 * ```
 * @throws OutboxError `INVALID_OPTION` for a bad option, before any connection is made.
 */
export function kafkaSender(options: KafkaSenderOptions): KafkaSender {
  return new KafkaSenderImpl(options);
}
