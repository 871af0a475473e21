import type { OutboxMessage } from '@troutbox/core';
import { OutboxError } from '@troutbox/core';
import type { Channel, Options, SocketOptions } from 'amqplib';

/** Where one message is published. */
export interface RabbitMqRoute {
  /** The exchange; `''` is the default exchange, which routes by queue name. */
  readonly exchange: string;
  readonly routingKey: string;
}

/** An exchange declared by {@link RabbitMqTopology}. */
export interface RabbitMqExchangeDeclaration {
  readonly name: string;
  /** @defaultValue `'topic'` */
  readonly type?: 'direct' | 'topic' | 'headers' | 'fanout' | (string & {});
  /** @defaultValue `{ durable: true }` */
  readonly options?: Options.AssertExchange;
}

/** A queue declared by {@link RabbitMqTopology}. */
export interface RabbitMqQueueDeclaration {
  readonly name: string;
  /** @defaultValue `{ durable: true }` */
  readonly options?: Options.AssertQueue;
}

/** A binding declared by {@link RabbitMqTopology}. */
export interface RabbitMqBindingDeclaration {
  readonly queue: string;
  readonly exchange: string;
  /** @defaultValue `'#'` */
  readonly routingKey?: string;
}

/**
 * Exchanges, queues and bindings asserted after every (re)connect, before the first publish.
 * Asserting is idempotent; a declaration that conflicts with what exists (another type, other
 * arguments) fails the connect, and the batch is retried.
 */
export interface RabbitMqTopology {
  readonly exchanges?: readonly RabbitMqExchangeDeclaration[];
  readonly queues?: readonly RabbitMqQueueDeclaration[];
  readonly bindings?: readonly RabbitMqBindingDeclaration[];
}

/** The channel handed to a topology function: a plain amqplib channel (not the confirm channel). */
export type RabbitMqTopologyChannel = Pick<
  Channel,
  'assertExchange' | 'assertQueue' | 'bindQueue' | 'bindExchange' | 'checkExchange' | 'checkQueue'
>;

/** How a returned (unroutable) message or a message for a missing exchange is reported. */
export type RabbitMqFailurePolicy = 'dead' | 'retry';

/** Options of {@link rabbitmqSender}. */
export interface RabbitMqSenderOptions {
  /** `amqp://user:pass@host:5672/vhost`, or amqplib's connect object. */
  url: string | Options.Connect;
  /** Passed to amqplib's `connect` (TLS options, `keepAlive`…). @defaultValue `{ timeout: connectTimeoutMs }` */
  socketOptions?: SocketOptions;
  /** The name shown for the connection in the management UI and `rabbitmqctl list_connections`. @defaultValue `'troutbox'` */
  connectionName?: string;
  /**
   * The exchange every message goes to, with the message topic as routing key. Ignored when
   * `route` is given.
   * @defaultValue `''` (the default exchange: the topic is the name of the queue)
   */
  exchange?: string;
  /**
   * Map a message to its exchange and routing key. A throw (or an invalid return) makes that
   * message dead: the mapping is deterministic, so retrying could not help.
   * @defaultValue `(m) => ({ exchange: options.exchange ?? '', routingKey: m.topic })`
   */
  route?: (message: OutboxMessage) => RabbitMqRoute;
  /** Exchanges, queues and bindings to assert after each connect, or a function that does it. @defaultValue none */
  topology?: RabbitMqTopology | ((channel: RabbitMqTopologyChannel) => Promise<void>);
  /** Publish with `mandatory`, so the broker returns what no queue takes. @defaultValue true */
  mandatory?: boolean;
  /** Publish persistent messages (delivery mode 2). @defaultValue true */
  persistent?: boolean;
  /** The result for a message the broker returned as unroutable (needs `mandatory`). @defaultValue `'dead'` */
  unroutable?: RabbitMqFailurePolicy;
  /**
   * The result for a message whose exchange does not exist. Each exchange is checked once per
   * connection before the first publish to it (publishing to a missing exchange would close the
   * channel, failing every message in flight). @defaultValue `'retry'` (the exchange may be
   * created by a deployment that has not run yet; `maxAttempts` still bounds it)
   */
  missingExchange?: RabbitMqFailurePolicy;
  /** Header carrying the message key; `null` to leave it out. @defaultValue `'outbox-key'` */
  keyHeader?: string | null;
  /** Header carrying the failed attempts before this delivery; `null` to leave it out. @defaultValue `'outbox-attempts'` */
  attemptsHeader?: string | null;
  /** Header carrying the outbox topic; `null` to leave it out. @defaultValue `'outbox-topic'` */
  topicHeader?: string | null;
  /** The AMQP `app-id` property. @defaultValue none */
  appId?: string;
  /** Delay before the first reconnect attempt after a failed connect; doubles on each failure. @defaultValue 100 */
  reconnectDelayMs?: number;
  /** Longest delay between reconnect attempts. @defaultValue 30000 */
  maxReconnectDelayMs?: number;
  /** Socket connect timeout. @defaultValue 10000 */
  connectTimeoutMs?: number;
  /**
   * Called with errors amqplib reports as events (connection lost, channel closed by the
   * broker, a failed reconnect). The affected messages are already retried; this is for logs.
   * @defaultValue ignore
   */
  onError?: (error: unknown, operation: 'connection' | 'channel' | 'connect') => void;
}

/** {@link RabbitMqSenderOptions} with every default applied; frozen. */
export interface ResolvedRabbitMqSenderOptions {
  readonly url: string | Options.Connect;
  readonly socketOptions: SocketOptions;
  readonly route: (message: OutboxMessage) => RabbitMqRoute;
  readonly topology: RabbitMqSenderOptions['topology'];
  readonly mandatory: boolean;
  readonly persistent: boolean;
  readonly unroutable: RabbitMqFailurePolicy;
  readonly missingExchange: RabbitMqFailurePolicy;
  readonly keyHeader: string | null;
  readonly attemptsHeader: string | null;
  readonly topicHeader: string | null;
  readonly appId: string | undefined;
  readonly reconnectDelayMs: number;
  readonly maxReconnectDelayMs: number;
  readonly onError: NonNullable<RabbitMqSenderOptions['onError']>;
}

function invalid(message: string): never {
  throw new OutboxError('INVALID_OPTION', `rabbitmqSender: ${message}`);
}

function int(value: unknown, name: string, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    invalid(`${name} must be an integer ≥ ${min}, got ${String(value)}`);
  }
  return value;
}

function policy(value: unknown, name: string, fallback: RabbitMqFailurePolicy): RabbitMqFailurePolicy {
  if (value === undefined) return fallback;
  if (value !== 'dead' && value !== 'retry')
    invalid(`${name} must be 'dead' or 'retry', got ${String(value)}`);
  return value;
}

function headerName(value: unknown, name: string, fallback: string): string | null {
  if (value === undefined) return fallback;
  if (value === null) return null;
  if (typeof value !== 'string' || value.length === 0 || value.length > 255) {
    invalid(`${name} must be a non-empty string (≤ 255 characters) or null`);
  }
  return value;
}

function checkName(value: unknown, what: string): void {
  // AMQP short strings: at most 255 bytes.
  if (typeof value !== 'string' || Buffer.byteLength(value) > 255) {
    invalid(`${what} must be a string of at most 255 bytes, got ${typeof value}`);
  }
}

function checkTopology(topology: unknown): void {
  if (topology === undefined || typeof topology === 'function') return;
  if (typeof topology !== 'object' || topology === null) invalid('topology must be an object or a function');
  const t = topology as RabbitMqTopology;
  for (const key of ['exchanges', 'queues', 'bindings'] as const) {
    if (t[key] !== undefined && !Array.isArray(t[key])) invalid(`topology.${key} must be an array`);
  }
  for (const [i, e] of (t.exchanges ?? []).entries()) {
    checkName(e?.name, `topology.exchanges[${i}].name`);
    if (e.name === '') invalid(`topology.exchanges[${i}].name must not be empty`);
  }
  for (const [i, q] of (t.queues ?? []).entries()) checkName(q?.name, `topology.queues[${i}].name`);
  for (const [i, b] of (t.bindings ?? []).entries()) {
    checkName(b?.queue, `topology.bindings[${i}].queue`);
    checkName(b?.exchange, `topology.bindings[${i}].exchange`);
    if (b.routingKey !== undefined) checkName(b.routingKey, `topology.bindings[${i}].routingKey`);
  }
}

/** Apply defaults and check every option once, before any connection is made. */
export function resolveRabbitMqSenderOptions(options: RabbitMqSenderOptions): ResolvedRabbitMqSenderOptions {
  if (typeof options !== 'object' || options === null) invalid('options must be an object');
  const { url } = options;
  if (typeof url === 'string') {
    if (!/^amqps?:\/\//.test(url)) invalid(`url must start with amqp:// or amqps://, got '${url}'`);
  } else if (typeof url !== 'object' || url === null) {
    invalid('url is required (amqp://user:pass@host:5672/vhost or a connect object)');
  }
  if (options.route !== undefined && typeof options.route !== 'function') invalid('route must be a function');
  if (options.exchange !== undefined) checkName(options.exchange, 'exchange');
  if (options.onError !== undefined && typeof options.onError !== 'function')
    invalid('onError must be a function');
  if (options.appId !== undefined && typeof options.appId !== 'string') invalid('appId must be a string');
  if (options.connectionName !== undefined && typeof options.connectionName !== 'string')
    invalid('connectionName must be a string');
  for (const flag of ['mandatory', 'persistent'] as const) {
    if (options[flag] !== undefined && typeof options[flag] !== 'boolean')
      invalid(`${flag} must be a boolean`);
  }
  checkTopology(options.topology);
  const unroutable = policy(options.unroutable, 'unroutable', 'dead');
  const mandatory = options.mandatory ?? true;
  if (!mandatory && options.unroutable !== undefined) {
    invalid('unroutable needs mandatory: true (without it the broker drops unroutable messages silently)');
  }
  const reconnectDelayMs = int(options.reconnectDelayMs, 'reconnectDelayMs', 100, 0);
  const maxReconnectDelayMs = int(options.maxReconnectDelayMs, 'maxReconnectDelayMs', 30_000, 0);
  if (maxReconnectDelayMs < reconnectDelayMs) invalid('maxReconnectDelayMs must be ≥ reconnectDelayMs');
  const connectTimeoutMs = int(options.connectTimeoutMs, 'connectTimeoutMs', 10_000, 1);
  const exchange = options.exchange ?? '';
  const socketOptions: SocketOptions = {
    timeout: connectTimeoutMs,
    ...options.socketOptions,
    clientProperties: {
      connection_name: options.connectionName ?? 'troutbox',
      ...options.socketOptions?.clientProperties,
    },
  };
  return Object.freeze({
    url,
    socketOptions,
    route: options.route ?? ((m: OutboxMessage) => ({ exchange, routingKey: m.topic })),
    topology: options.topology,
    mandatory,
    persistent: options.persistent ?? true,
    unroutable,
    missingExchange: policy(options.missingExchange, 'missingExchange', 'retry'),
    keyHeader: headerName(options.keyHeader, 'keyHeader', 'outbox-key'),
    attemptsHeader: headerName(options.attemptsHeader, 'attemptsHeader', 'outbox-attempts'),
    topicHeader: headerName(options.topicHeader, 'topicHeader', 'outbox-topic'),
    appId: options.appId,
    reconnectDelayMs,
    maxReconnectDelayMs,
    onError: options.onError ?? (() => {}),
  });
}
