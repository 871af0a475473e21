import {
  type JetStreamClient,
  type JetStreamOptions,
  type JetStreamPublishOptions,
  jetstream,
} from '@nats-io/jetstream';
import { connect, type NodeConnectionOptions, headers as natsHeaders } from '@nats-io/transport-node';
import {
  dead,
  deliveryHeaders,
  failAll,
  isOutboxError,
  OutboxError,
  type OutboxMessage,
  optionChecks,
  retry,
  type Sender,
  type SendResult,
  sent,
  settleEach,
} from '@troutbox/core';
import { classifyNatsError, type NatsErrorPolicy } from './classify.js';

/**
 * The part of a NATS connection (`NatsConnection` of `@nats-io/transport-node` or any other
 * `@nats-io` transport) that the sender uses. Typed by shape, so a connection made by another
 * copy of the client library is accepted.
 */
export interface NatsConnectionLike {
  isClosed(): boolean;
  close(): Promise<void>;
  request(subject: string, payload?: any, options?: any): Promise<any>;
  publish(subject: string, payload?: any, options?: any): void;
  subscribe(subject: string, options?: any): any;
}

/** Options of {@link natsSender}. */
export interface NatsSenderOptions {
  /**
   * NATS server URL(s) for a connection the sender opens, owns, closes, and re-opens when the
   * client gives up reconnecting. Ignored when `connection` is given.
   * @defaultValue `'nats://127.0.0.1:4222'`
   */
  servers?: string | string[];
  /** Further options for the connection the sender opens (credentials, TLS, reconnect policy). */
  connectionOptions?: Omit<NodeConnectionOptions, 'servers'>;
  /**
   * An existing connection, or a function that opens one. A connection passed as is stays
   * yours: the sender never closes it and cannot replace it once it is closed (its messages
   * are then retried). A function makes the connection the sender's: it is called again
   * whenever the current connection has closed, and `close()` closes it.
   */
  connection?: NatsConnectionLike | (() => Promise<NatsConnectionLike>);
  /** JetStream context options (`domain`, `apiPrefix`, default `timeout`). */
  jetstreamOptions?: JetStreamOptions;
  /**
   * The subject of a message. Mutually exclusive with `subjectPrefix`.
   * @defaultValue the topic, prefixed with `subjectPrefix`
   */
  subject?: (message: OutboxMessage) => string;
  /** Prepended to the topic to make the subject (`'events.'` sends topic `orders` to `events.orders`). @defaultValue `''` */
  subjectPrefix?: string;
  /**
   * Prepended to the outbox id to make the `Nats-Msg-Id`. Give each outbox table that
   * publishes into the same stream its own prefix: ids of two tables collide, and the stream
   * would drop one table's message as a duplicate of the other's.
   * @defaultValue `''`
   */
  msgIdPrefix?: string;
  /** Have the server check that the subject is stored by this stream (`Nats-Expected-Stream`); a mismatch is a dead letter. */
  expectStream?: string;
  /** Publishes awaiting their acknowledgement at once, per `send`. @defaultValue 256 */
  concurrency?: number;
  /** How long to wait for each PubAck before the message counts as a retry. @defaultValue 5000 */
  ackTimeoutMs?: number;
  /**
   * What happens to a message whose subject no stream stores (the publish gets "no
   * responders") or whose expected stream does not exist. `retry` suits a stream that is
   * created or restored by deployment (and rides out a JetStream leader election); `dead`
   * suits a subject that must never be unbound.
   * @defaultValue `'retry'`
   */
  noStream?: 'retry' | 'dead';
  /** Override the classification of a publish error; return `undefined` to keep the default. */
  classify?: (error: unknown, message: OutboxMessage) => 'retry' | 'dead' | undefined;
}

interface ResolvedNatsSenderOptions {
  readonly servers: string | string[];
  readonly connectionOptions: Omit<NodeConnectionOptions, 'servers'>;
  readonly connection: NatsSenderOptions['connection'];
  readonly jetstreamOptions: JetStreamOptions;
  readonly subject: (message: OutboxMessage) => string;
  readonly msgIdPrefix: string;
  readonly expectStream: string | undefined;
  readonly concurrency: number;
  readonly ackTimeoutMs: number;
  readonly policy: NatsErrorPolicy;
  readonly classify: NatsSenderOptions['classify'];
}

const { invalid, positiveInt, optionalString } = optionChecks('natsSender');

/** Apply defaults and check every option once. */
function resolveOptions(options: NatsSenderOptions): ResolvedNatsSenderOptions {
  if (options === null || typeof options !== 'object') invalid('options must be an object');
  const { connection, servers } = options;
  if (
    connection !== undefined &&
    typeof connection !== 'function' &&
    (typeof connection !== 'object' ||
      connection === null ||
      typeof connection.request !== 'function' ||
      typeof connection.isClosed !== 'function')
  ) {
    invalid('connection must be a NatsConnection or a function that returns one');
  }
  if (
    servers !== undefined &&
    typeof servers !== 'string' &&
    !(Array.isArray(servers) && servers.every((s) => typeof s === 'string'))
  ) {
    invalid('servers must be a URL or a list of URLs');
  }
  if (options.subject !== undefined && typeof options.subject !== 'function') {
    invalid('subject must be a function (message) => string');
  }
  const prefix = optionalString(options.subjectPrefix, 'subjectPrefix') ?? '';
  if (options.subject && prefix) invalid('give subject or subjectPrefix, not both');
  if (options.noStream !== undefined && options.noStream !== 'retry' && options.noStream !== 'dead') {
    invalid(`noStream must be 'retry' or 'dead', got ${String(options.noStream)}`);
  }
  if (options.classify !== undefined && typeof options.classify !== 'function') {
    invalid('classify must be a function');
  }
  const expectStream = optionalString(options.expectStream, 'expectStream');
  if (expectStream === '') invalid('expectStream must not be empty');
  return Object.freeze({
    servers: servers ?? 'nats://127.0.0.1:4222',
    connectionOptions: options.connectionOptions ?? {},
    connection,
    jetstreamOptions: options.jetstreamOptions ?? {},
    subject: options.subject ?? ((m: OutboxMessage) => prefix + m.topic),
    msgIdPrefix: optionalString(options.msgIdPrefix, 'msgIdPrefix') ?? '',
    expectStream,
    concurrency: positiveInt(options.concurrency, 'concurrency', 256),
    ackTimeoutMs: positiveInt(options.ackTimeoutMs, 'ackTimeoutMs', 5000),
    policy: { noStream: options.noStream ?? 'retry' },
    classify: options.classify,
  });
}

/**
 * Whether `subject` is a subject one can publish to: no whitespace, no empty token, no wildcard token.
 *
 * @example
 * ```ts
 * isPublishableSubject('events.orders'); // true
 * isPublishableSubject('events.>');      // false
 * ```
 */
export function isPublishableSubject(subject: string): boolean {
  if (subject.length === 0 || /\s/.test(subject)) return false;
  return subject.split('.').every((token) => token.length > 0 && token !== '*' && token !== '>');
}

/**
 * The NATS headers of a message: its own (incl. `traceparent`), plus `outbox-id`,
 * `outbox-topic`, `outbox-key` (when it has a key) and `content-type`. `Nats-Msg-Id` is added
 * by the publish.
 *
 * @example
 * ```ts
 * natsMessageHeaders(message); // { traceparent: '00-…', 'outbox-id': '42', 'outbox-topic': 'orders', 'outbox-key': 'o-1', 'content-type': 'application/json' }
 * ```
 */
export function natsMessageHeaders(message: OutboxMessage): Record<string, string> {
  const h = deliveryHeaders(message);
  if (message.key !== null) h['outbox-key'] = message.key;
  h['content-type'] = message.contentType;
  return h;
}

interface Link {
  readonly nc: NatsConnectionLike;
  readonly js: JetStreamClient;
}

/** A JetStream sender; see {@link natsSender}. */
export interface NatsSender extends Sender {
  readonly name: 'nats';
  /** The current connection, or `undefined` before the first send (or after `close()`). */
  readonly connection: NatsConnectionLike | undefined;
  /** Close the connection if the sender opened it. Later sends open a new one. */
  close(): Promise<void>;
}

/**
 * A {@link Sender} that publishes each message to NATS JetStream and waits for its PubAck.
 *
 * Every publish carries `Nats-Msg-Id` = the outbox id, so a message sent again (after a relay
 * crash, or after a PubAck was lost) is dropped by the stream if it arrives within the
 * stream's `duplicate_window`; such a duplicate PubAck counts as sent.
 *
 * @example
 * ```ts
 * const relay = createRelay({
 *   store,
 *   sender: natsSender({ servers: 'nats://127.0.0.1:4222', subjectPrefix: 'events.' }),
 *   batchSize: 500,
 *   closeSender: true,
 * });
 * await relay.start();
 * ```
 */
export function natsSender(options: NatsSenderOptions = {}): NatsSender {
  const o = resolveOptions(options);
  const owned = typeof o.connection !== 'object';
  let link: Link | undefined;
  let opening: Promise<Link> | undefined;

  async function open(): Promise<Link> {
    let nc: NatsConnectionLike;
    if (typeof o.connection === 'function') nc = await o.connection();
    else if (o.connection) nc = o.connection;
    else nc = await connect({ ...o.connectionOptions, servers: o.servers });
    // The shape is all jetstream() uses; the cast bridges copies of the client library.
    const js = jetstream(nc as unknown as Parameters<typeof jetstream>[0], o.jetstreamOptions);
    return { nc, js };
  }

  async function current(): Promise<Link> {
    if (link && !link.nc.isClosed()) return link;
    if (link && !owned) {
      throw new Error('the NATS connection given to natsSender is closed, and only its owner can replace it');
    }
    opening ??= open().then(
      (l) => {
        opening = undefined;
        link = l;
        return l;
      },
      (error) => {
        opening = undefined;
        throw error;
      },
    );
    return opening;
  }

  function publishOptions(message: OutboxMessage): Partial<JetStreamPublishOptions> {
    const h = natsHeaders();
    for (const [name, value] of Object.entries(natsMessageHeaders(message))) h.set(name, value);
    const opts: Partial<JetStreamPublishOptions> = {
      msgID: o.msgIdPrefix + message.id,
      timeout: o.ackTimeoutMs,
      headers: h,
    };
    if (o.expectStream) opts.expect = { streamName: o.expectStream };
    return opts;
  }

  return {
    name: 'nats',
    get connection() {
      return link?.nc;
    },
    async send(messages, { signal }): Promise<readonly SendResult[]> {
      if (messages.length === 0) return [];
      let js: JetStreamClient;
      try {
        ({ js } = await current());
      } catch (error) {
        return failAll(messages, error);
      }
      return settleEach(
        messages,
        async (message) => {
          // Stopped or timed out: the relay no longer waits for this batch; publishing more
          // would only send messages it is about to record as retries.
          if (signal.aborted) return retry(signal.reason);
          let subject: string;
          let opts: Partial<JetStreamPublishOptions>;
          try {
            subject = o.subject(message);
            if (typeof subject !== 'string' || !isPublishableSubject(subject)) {
              throw new OutboxError(
                'INVALID_MESSAGE',
                `natsSender: ${JSON.stringify(subject)} is not a subject one can publish to`,
                { messageId: message.id, field: 'topic' },
              );
            }
            opts = publishOptions(message);
          } catch (error) {
            // A message that cannot be addressed or whose headers NATS cannot carry will not get better.
            return dead(error);
          }
          // A duplicate PubAck means the stream already holds this id: delivered before.
          await js.publish(subject, message.payload, opts);
          return sent();
        },
        {
          concurrency: o.concurrency,
          classify: (error, message) =>
            o.classify?.(error, message) ??
            (isOutboxError(error) ? 'retry' : classifyNatsError(error, o.policy)),
        },
      );
    },
    async close() {
      const l = link;
      link = undefined;
      if (l && owned && !l.nc.isClosed()) await l.nc.close();
    },
  };
}
