import {
  dead,
  describeError,
  type OutboxMessage,
  retry,
  type SendContext,
  type Sender,
  type SendResult,
  sent,
} from '@troutbox/core';
import amqp, { type Channel, type ChannelModel, type ConfirmChannel, type Message } from 'amqplib';
import {
  type RabbitMqRoute,
  type RabbitMqSenderOptions,
  type RabbitMqTopology,
  type RabbitMqTopologyChannel,
  type ResolvedRabbitMqSenderOptions,
  resolveRabbitMqSenderOptions,
} from './options.js';

/**
 * The broker returned a `mandatory` message because no queue is bound for its routing key.
 * Reported as the message's failure (`dead` by default, see `unroutable`).
 */
export class UnroutableError extends Error {
  override readonly name = 'UnroutableError';
  /** `312` (NO_ROUTE) in practice. */
  readonly replyCode: number;
  readonly replyText: string;
  readonly exchange: string;
  readonly routingKey: string;

  constructor(fields: { replyCode: number; replyText: string; exchange: string; routingKey: string }) {
    super(
      `unroutable: ${fields.replyCode} ${fields.replyText} (exchange '${fields.exchange}', routing key '${fields.routingKey}')`,
    );
    this.replyCode = fields.replyCode;
    this.replyText = fields.replyText;
    this.exchange = fields.exchange;
    this.routingKey = fields.routingKey;
  }
}

/** The sender returned by {@link rabbitmqSender}. */
export interface RabbitMqSender extends Sender {
  readonly name: 'rabbitmq';
  readonly options: ResolvedRabbitMqSenderOptions;
  /** The live connection, or `undefined` between connections. For diagnostics; do not publish on it. */
  readonly connection: ChannelModel | undefined;
  /** The live confirm channel, or `undefined` between connections. For diagnostics; do not publish on it. */
  readonly channel: ConfirmChannel | undefined;
  /** How many connections this sender has opened so far. */
  readonly connections: number;
  /** Close the channel and the connection. Later sends fail with `retry`; the sender does not reconnect. */
  close(): Promise<void>;
}

/** A message published and not yet confirmed; `returned` is set when the broker sends it back. */
interface Tracker {
  returned?: UnroutableError;
}

/** One connection with its confirm channel. Replaced as a whole when either closes. */
interface Link {
  readonly model: ChannelModel;
  readonly channel: ConfirmChannel;
  closed: boolean;
  /** Why the connection or channel went away, when amqplib said. */
  reason: unknown;
  readonly whenClosed: Promise<void>;
  /** Unconfirmed publishes by message id (a list: an aborted send may still be in flight when the id is sent again). */
  readonly inFlight: Map<string, Tracker[]>;
  /** Exchange existence checks, at most one per exchange and connection. */
  readonly exchanges: Map<string, Promise<boolean>>;
  checker?: Promise<Channel>;
}

async function applyTopology(
  channel: RabbitMqTopologyChannel,
  topology: NonNullable<RabbitMqSenderOptions['topology']>,
): Promise<void> {
  if (typeof topology === 'function') return topology(channel);
  for (const e of topology.exchanges ?? []) {
    await channel.assertExchange(e.name, e.type ?? 'topic', e.options ?? { durable: true });
  }
  for (const q of topology.queues ?? []) await channel.assertQueue(q.name, q.options ?? { durable: true });
  for (const b of topology.bindings ?? []) await channel.bindQueue(b.queue, b.exchange, b.routingKey ?? '#');
}

function toBuffer(payload: Uint8Array): Buffer {
  return Buffer.isBuffer(payload)
    ? payload
    : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new Error('send aborted');
}

function channelLost(link: Link): Error {
  const why = link.reason === undefined ? 'channel closed' : describeError(link.reason);
  return new Error(`rabbitmq connection or channel lost before the broker confirmed the message: ${why}`, {
    cause: link.reason,
  });
}

class RabbitMqSenderImpl implements RabbitMqSender {
  readonly name = 'rabbitmq';
  readonly options: ResolvedRabbitMqSenderOptions;
  #link: Link | undefined;
  #connecting: Promise<Link> | undefined;
  #failures = 0;
  #nextAttemptAt = 0;
  #lastConnectError: unknown;
  #connections = 0;
  #closed = false;

  constructor(options: RabbitMqSenderOptions) {
    this.options = resolveRabbitMqSenderOptions(options);
  }

  get connection(): ChannelModel | undefined {
    return this.#link && !this.#link.closed ? this.#link.model : undefined;
  }

  get channel(): ConfirmChannel | undefined {
    return this.#link && !this.#link.closed ? this.#link.channel : undefined;
  }

  get connections(): number {
    return this.#connections;
  }

  /** The live link, connecting lazily; a failed connect holds off the next attempt with exponential backoff. */
  #getLink(): Promise<Link> {
    if (this.#closed) return Promise.reject(new Error('rabbitmq sender is closed'));
    if (this.#link && !this.#link.closed) return Promise.resolve(this.#link);
    if (this.#connecting) return this.#connecting;
    if (Date.now() < this.#nextAttemptAt) {
      return Promise.reject(
        new Error(
          `rabbitmq: not reconnecting for another ${this.#nextAttemptAt - Date.now()} ms after: ${describeError(this.#lastConnectError)}`,
          { cause: this.#lastConnectError },
        ),
      );
    }
    const connecting = this.#connect().then(
      (link) => {
        this.#failures = 0;
        this.#link = link;
        return link;
      },
      (error: unknown) => {
        this.#failures++;
        this.#lastConnectError = error;
        const { reconnectDelayMs, maxReconnectDelayMs } = this.options;
        const base = Math.min(maxReconnectDelayMs, reconnectDelayMs * 2 ** (this.#failures - 1));
        // Jitter spreads the reconnects of many relays after a broker restart.
        this.#nextAttemptAt = Date.now() + Math.round(base * (0.5 + Math.random() / 2));
        this.options.onError(error, 'connect');
        throw error;
      },
    );
    this.#connecting = connecting;
    const clear = () => {
      if (this.#connecting === connecting) this.#connecting = undefined;
    };
    connecting.then(clear, clear);
    return connecting;
  }

  async #connect(): Promise<Link> {
    const { url, socketOptions, topology, onError } = this.options;
    const model = await amqp.connect(url, socketOptions);
    this.#connections++;
    let link: Link | undefined;
    // amqplib emits 'error' on the connection when the socket fails or the broker closes it;
    // without a listener that event would crash the process.
    model.on('error', (error: Error) => {
      if (link && link.reason === undefined) link.reason = error;
      onError(error, 'connection');
    });
    try {
      const known = new Set<string>();
      if (topology) {
        const setup = await model.createChannel();
        setup.on('error', () => {});
        await applyTopology(setup, topology);
        await setup.close();
        for (const e of (topology as RabbitMqTopology).exchanges ?? []) known.add(e.name);
      }
      const channel = await model.createConfirmChannel();
      let markClosed!: () => void;
      const whenClosed = new Promise<void>((resolve) => {
        markClosed = resolve;
      });
      link = {
        model,
        channel,
        closed: false,
        reason: undefined,
        whenClosed,
        inFlight: new Map(),
        exchanges: new Map([...known].map((name) => [name, Promise.resolve(true)])),
      };
      const current = link;
      const close = () => {
        if (current.closed) return;
        current.closed = true;
        markClosed();
        // A channel closed by the broker leaves the connection open: close it too, so the next
        // send starts from a clean connection.
        try {
          model.close().catch(() => {});
        } catch {
          // Already closed.
        }
      };
      model.on('close', (error?: Error) => {
        if (error && current.reason === undefined) current.reason = error;
        close();
      });
      channel.on('error', (error: Error) => {
        if (current.reason === undefined) current.reason = error;
        onError(error, 'channel');
      });
      channel.on('close', close);
      channel.on('return', (message: Message) => this.#onReturn(current, message));
      if (this.#closed) {
        close();
        throw new Error('rabbitmq sender is closed');
      }
      return link;
    } catch (error) {
      try {
        await model.close();
      } catch {
        // The connection may already be gone; the original error is what matters.
      }
      throw error;
    }
  }

  #onReturn(link: Link, message: Message): void {
    const id = message.properties.messageId;
    const trackers = typeof id === 'string' ? link.inFlight.get(id) : undefined;
    // Returns arrive in publish order, so the oldest unreturned publish of that id is the one.
    const tracker = trackers?.find((t) => t.returned === undefined);
    if (!tracker) return;
    const fields = message.fields as unknown as {
      replyCode: number;
      replyText: string;
      exchange: string;
      routingKey: string;
    };
    tracker.returned = new UnroutableError(fields);
  }

  /** Does `exchange` exist? Checked on a side channel, because a failed check closes the channel it ran on. */
  #exchangeExists(link: Link, exchange: string): Promise<boolean> {
    if (exchange === '') return Promise.resolve(true);
    let check = link.exchanges.get(exchange);
    if (!check) {
      check = (async () => {
        link.checker ??= link.model.createChannel().then((ch) => {
          ch.on('error', () => {});
          ch.on('close', () => {
            if (link.checker === pending) link.checker = undefined;
          });
          return ch;
        });
        const pending = link.checker;
        let channel: Channel;
        try {
          channel = await pending;
        } catch (error) {
          if (link.checker === pending) link.checker = undefined;
          throw error;
        }
        try {
          await channel.checkExchange(exchange);
          return true;
        } catch (error) {
          if ((error as { code?: unknown }).code === 404) return false;
          throw error;
        }
      })();
      link.exchanges.set(exchange, check);
      // A missing exchange may be declared soon, and a failed check says nothing: ask again next time.
      check.then(
        (exists) => {
          if (!exists) link.exchanges.delete(exchange);
        },
        () => link.exchanges.delete(exchange),
      );
    }
    return check;
  }

  async send(messages: readonly OutboxMessage[], { signal }: SendContext): Promise<readonly SendResult[]> {
    const results = new Array<SendResult | undefined>(messages.length);
    const fillRest = (error: unknown) => {
      for (let i = 0; i < results.length; i++) results[i] ??= retry(error);
      return results as SendResult[];
    };
    if (messages.length === 0) return [];
    if (signal.aborted) return fillRest(abortReason(signal));

    const routes = messages.map((message, i): RabbitMqRoute | undefined => {
      try {
        const route = this.options.route(message);
        if (
          typeof route?.exchange !== 'string' ||
          typeof route.routingKey !== 'string' ||
          Buffer.byteLength(route.exchange) > 255 ||
          Buffer.byteLength(route.routingKey) > 255
        ) {
          throw new TypeError('route must return { exchange, routingKey } as strings of at most 255 bytes');
        }
        return route;
      } catch (error) {
        results[i] = dead(error);
        return undefined;
      }
    });

    let link: Link;
    try {
      link = await this.#whileNotAborted(this.#getLink(), signal);
    } catch (error) {
      return fillRest(error);
    }

    const exchanges = new Set<string>();
    for (const r of routes) if (r) exchanges.add(r.exchange);
    // One at a time: a check that fails closes the side channel, which would fail the checks
    // queued behind it on that channel.
    const unusable = new Map<string, SendResult>();
    for (const exchange of exchanges) {
      try {
        if (!(await this.#whileNotAborted(this.#exchangeExists(link, exchange), signal))) {
          const error = new Error(`rabbitmq exchange '${exchange}' does not exist`);
          unusable.set(exchange, this.options.missingExchange === 'dead' ? dead(error) : retry(error));
        }
      } catch (error) {
        if (signal.aborted) return fillRest(abortReason(signal));
        unusable.set(exchange, retry(error));
      }
    }
    if (unusable.size > 0) {
      routes.forEach((r, i) => {
        const result = r && unusable.get(r.exchange);
        if (result) results[i] = result;
      });
    }

    const confirms: Promise<void>[] = [];
    let finished = false;
    const { channel } = link;
    const { mandatory, persistent, appId, keyHeader, attemptsHeader, topicHeader } = this.options;
    const onReturned = this.options.unroutable === 'dead' ? dead : retry;
    for (let i = 0; i < messages.length; i++) {
      const route = routes[i];
      if (results[i] !== undefined || route === undefined) continue;
      if (link.closed) break;
      if (signal.aborted) break;
      const message = messages[i]!;
      const headers: Record<string, unknown> = { ...message.headers };
      if (keyHeader !== null && message.key !== null) headers[keyHeader] = message.key;
      if (attemptsHeader !== null) headers[attemptsHeader] = message.attempts;
      if (topicHeader !== null) headers[topicHeader] = message.topic;
      const tracker: Tracker = {};
      const trackers = link.inFlight.get(message.id);
      if (trackers) trackers.push(tracker);
      else link.inFlight.set(message.id, [tracker]);
      const untrack = () => {
        const list = link.inFlight.get(message.id);
        if (!list) return;
        const at = list.indexOf(tracker);
        if (at >= 0) list.splice(at, 1);
        if (list.length === 0) link.inFlight.delete(message.id);
      };
      let settle!: () => void;
      confirms.push(
        new Promise<void>((resolve) => {
          settle = resolve;
        }),
      );
      let writable: boolean;
      try {
        writable = channel.publish(
          route.exchange,
          route.routingKey,
          toBuffer(message.payload),
          {
            persistent,
            mandatory,
            messageId: message.id,
            contentType: message.contentType,
            timestamp: Math.floor(message.createdAt.getTime() / 1000),
            headers,
            ...(appId === undefined ? {} : { appId }),
          },
          (error: unknown) => {
            untrack();
            if (!finished) {
              // The broker sends basic.return before the basic.ack of a mandatory message, so a
              // returned message is known by the time its confirm arrives.
              if (error) {
                results[i] = retry(
                  link.closed
                    ? channelLost(link)
                    : new Error(`rabbitmq broker nacked the message: ${describeError(error)}`),
                );
              } else if (tracker.returned) {
                results[i] = onReturned(tracker.returned);
              } else {
                results[i] = sent();
              }
            }
            settle();
          },
        );
      } catch (error) {
        untrack();
        settle();
        // amqplib throws when the channel is closing (retry later), or for a message it cannot
        // encode, such as a headers table over 64 KiB (that will not get better).
        const closing = link.closed || (error as Error)?.name === 'IllegalOperationError';
        results[i] = closing ? retry(error) : dead(error);
        continue;
      }
      if (!writable) await this.#drained(link, signal);
    }

    await this.#whileNotAborted(Promise.all(confirms), signal).catch(() => {});
    finished = true;
    if (signal.aborted) return fillRest(abortReason(signal));
    return fillRest(link.closed ? channelLost(link) : new Error('rabbitmq message was not published'));
  }

  /** Wait until the channel's write buffer drains, the link closes or the send is aborted. */
  #drained(link: Link, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      if (link.closed || signal.aborted) return resolve();
      const done = () => {
        link.channel.removeListener('drain', done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      link.channel.once('drain', done);
      signal.addEventListener('abort', done, { once: true });
      link.whenClosed.then(done);
    });
  }

  /** `promise`, or a rejection with the abort reason as soon as `signal` aborts. */
  #whileNotAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
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

  async close(): Promise<void> {
    this.#closed = true;
    const link = this.#link ?? (await this.#connecting?.catch(() => undefined));
    if (!link || link.closed) return;
    link.closed = true;
    try {
      await link.model.close();
    } catch {
      // Closed from the other side meanwhile: nothing left to release.
    }
  }
}

/**
 * A {@link Sender} that publishes to RabbitMQ with publisher confirms: a message counts as sent
 * only once the broker has confirmed it (for a persistent message to a durable queue: written
 * to disk), and only if it was routed to a queue.
 *
 * The connection is opened on the first send and reopened by itself after a loss; the messages
 * of a batch that were not confirmed before the loss are retried.
 *
 * @example
 * ```ts
 * import { createRelay } from '@troutbox/core';
 * import { rabbitmqSender } from '@troutbox/rabbitmq';
 *
 * const sender = rabbitmqSender({
 *   url: 'amqp://guest:guest@localhost:5672',
 *   exchange: 'events', // routing key = message topic
 *   topology: { exchanges: [{ name: 'events', type: 'topic' }] },
 * });
 * const relay = createRelay({ store, sender, batchSize: 500, closeSender: true });
 * await relay.start();
 * ```
 * @throws OutboxError `INVALID_OPTION` for a bad option, before any connection is made.
 */
export function rabbitmqSender(options: RabbitMqSenderOptions): RabbitMqSender {
  return new RabbitMqSenderImpl(options);
}
