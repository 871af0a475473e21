import { OutboxError, type OutboxMessage } from '@troutbox/core';
import type { CompressionTypes, KafkaConfig, ProducerConfig, ProducerRecord, RecordMetadata } from 'kafkajs';

/**
 * The part of a kafkajs `Producer` the sender uses. A kafkajs producer fits as is; so does a
 * test double or a wrapper with the same shape.
 */
export interface KafkaProducerLike {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  send(record: ProducerRecord): Promise<RecordMetadata[]>;
  /** kafkajs producers say whether they were created with `idempotent: true`. */
  isIdempotent?(): boolean;
}

/** The part of a kafkajs `Kafka` client the sender uses to create its own producer. */
export interface KafkaClientLike {
  producer(config?: ProducerConfig): KafkaProducerLike;
}

/** How a failed send of one message is reported. */
export type KafkaFailurePolicy = 'dead' | 'retry';

/** Options of {@link kafkaSender}. Give exactly one of `brokers`, `client` or `producer`. */
export interface KafkaSenderOptions {
  /** Bootstrap brokers (`['kafka-1:9092']`); the sender creates and owns a kafkajs client and producer. */
  brokers?: string[];
  /** More kafkajs client settings (ssl, sasl, logLevel, retry…) when `brokers` is given. @defaultValue `{}` */
  kafkaConfig?: Omit<KafkaConfig, 'brokers'>;
  /** kafkajs `clientId`, when `brokers` is given. @defaultValue `'troutbox'` */
  clientId?: string;
  /** An existing kafkajs `Kafka` client; the sender creates (and owns) an idempotent producer on it. */
  client?: KafkaClientLike;
  /**
   * An existing producer. You own it: create it with `idempotent: true` and
   * `maxInFlightRequests` ≤ 5, connect it before the relay starts and disconnect it after.
   * A kafkajs producer that reports `isIdempotent() === false` is refused.
   */
  producer?: KafkaProducerLike;
  /**
   * In-flight produce requests per broker connection, for the producer the sender creates. The
   * idempotent producer keeps per-partition order with up to 5. @defaultValue 5
   */
  maxInFlightRequests?: number;
  /**
   * Let the producer create missing topics (broker setting permitting), for the producer the
   * sender creates. Off by default: an accidentally created topic gets the broker's default
   * partition count, which fixes how keys are spread for good. @defaultValue false
   */
  allowAutoTopicCreation?: boolean;
  /** Kafka topic for a message. @defaultValue `(m) => topicPrefix + m.topic` */
  topic?: (message: OutboxMessage) => string;
  /** Prepended to the message topic when `topic` is not given. @defaultValue `''` */
  topicPrefix?: string;
  /** kafkajs produce request timeout. @defaultValue 30000 */
  timeoutMs?: number;
  /** kafkajs compression codec (`CompressionTypes.GZIP`…). @defaultValue none */
  compression?: CompressionTypes;
  /**
   * The result for a message whose topic does not exist (auto-creation off) once kafkajs has
   * given up refreshing metadata. @defaultValue `'dead'` (like an unroutable message: requeue
   * the dead letters after creating the topic)
   */
  unknownTopic?: KafkaFailurePolicy;
  /**
   * Decide retry or dead for an error the default rules do not settle as you want. Return
   * `undefined` to fall back to them.
   */
  classify?: (error: unknown, topic: string) => KafkaFailurePolicy | undefined;
  /** Header carrying the outbox id. @defaultValue `'outbox-id'` */
  idHeader?: string;
  /** Header carrying the failed attempts before this delivery; `null` to leave it out. @defaultValue `'outbox-attempts'` */
  attemptsHeader?: string | null;
  /** Header carrying the payload content type; `null` to leave it out. @defaultValue `'content-type'` */
  contentTypeHeader?: string | null;
}

/** {@link KafkaSenderOptions} with every default applied; frozen. */
export interface ResolvedKafkaSenderOptions {
  readonly owned: boolean;
  readonly createProducer: () => KafkaProducerLike;
  readonly producerConfig: Readonly<ProducerConfig> | undefined;
  readonly topic: (message: OutboxMessage) => string;
  readonly timeoutMs: number;
  readonly compression: CompressionTypes | undefined;
  readonly unknownTopic: KafkaFailurePolicy;
  readonly classify: KafkaSenderOptions['classify'];
  readonly idHeader: string;
  readonly attemptsHeader: string | null;
  readonly contentTypeHeader: string | null;
}

function invalid(message: string): never {
  throw new OutboxError('INVALID_OPTION', `kafkaSender: ${message}`);
}

function headerName(value: unknown, name: string, fallback: string, nullable: boolean): string | null {
  if (value === undefined) return fallback;
  if (value === null && nullable) return null;
  if (typeof value !== 'string' || value.length === 0) {
    invalid(`${name} must be a non-empty string${nullable ? ' or null' : ''}`);
  }
  return value;
}

/**
 * Apply defaults and check every option once, before any connection is made.
 * `createKafka` builds the kafkajs client when `brokers` is given; it is a parameter so this
 * module needs kafkajs only as types.
 */
export function resolveKafkaSenderOptions(
  options: KafkaSenderOptions,
  createKafka: (config: KafkaConfig) => KafkaClientLike,
): ResolvedKafkaSenderOptions {
  if (typeof options !== 'object' || options === null) invalid('options must be an object');
  const sources = (['brokers', 'client', 'producer'] as const).filter((k) => options[k] !== undefined);
  if (sources.length !== 1) {
    invalid(
      sources.length === 0
        ? 'give brokers, client or producer'
        : `give only one of brokers, client or producer, not ${sources.join(' and ')}`,
    );
  }
  const maxInFlightRequests = options.maxInFlightRequests ?? 5;
  if (!Number.isInteger(maxInFlightRequests) || maxInFlightRequests < 1 || maxInFlightRequests > 5) {
    invalid(
      `maxInFlightRequests must be an integer from 1 to 5 (the idempotent producer keeps order only up to 5), got ${String(maxInFlightRequests)}`,
    );
  }
  if (options.allowAutoTopicCreation !== undefined && typeof options.allowAutoTopicCreation !== 'boolean') {
    invalid('allowAutoTopicCreation must be a boolean');
  }
  if (options.topic !== undefined && typeof options.topic !== 'function') invalid('topic must be a function');
  const prefix = options.topicPrefix ?? '';
  if (typeof prefix !== 'string') invalid('topicPrefix must be a string');
  if (options.topic !== undefined && options.topicPrefix !== undefined)
    invalid('give topic or topicPrefix, not both');
  const timeoutMs = options.timeoutMs ?? 30_000;
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1)
    invalid(`timeoutMs must be a positive integer, got ${String(timeoutMs)}`);
  const unknownTopic = options.unknownTopic ?? 'dead';
  if (unknownTopic !== 'dead' && unknownTopic !== 'retry') invalid(`unknownTopic must be 'dead' or 'retry'`);
  if (options.classify !== undefined && typeof options.classify !== 'function')
    invalid('classify must be a function');

  const producerConfig: ProducerConfig = {
    idempotent: true,
    maxInFlightRequests,
    allowAutoTopicCreation: options.allowAutoTopicCreation ?? false,
  };
  let createProducer: () => KafkaProducerLike;
  let owned = true;
  if (options.brokers !== undefined) {
    const { brokers } = options;
    if (
      !Array.isArray(brokers) ||
      brokers.length === 0 ||
      brokers.some((b) => typeof b !== 'string' || b === '')
    ) {
      invalid('brokers must be a non-empty array of host:port strings');
    }
    if (
      options.kafkaConfig !== undefined &&
      (typeof options.kafkaConfig !== 'object' || options.kafkaConfig === null)
    ) {
      invalid('kafkaConfig must be an object');
    }
    const config: KafkaConfig = {
      clientId: options.clientId ?? 'troutbox',
      ...options.kafkaConfig,
      brokers: [...brokers],
    };
    createProducer = () => createKafka(config).producer(producerConfig);
  } else if (options.client !== undefined) {
    const { client } = options;
    if (typeof client?.producer !== 'function')
      invalid('client must be a kafkajs Kafka instance (with producer())');
    createProducer = () => client.producer(producerConfig);
  } else {
    const { producer } = options;
    if (typeof producer?.send !== 'function' || typeof producer.connect !== 'function') {
      invalid('producer must be a kafkajs Producer (with connect() and send())');
    }
    if (typeof producer.isIdempotent === 'function' && producer.isIdempotent() === false) {
      invalid(
        'producer must be created with idempotent: true, so a retried produce request cannot duplicate or reorder messages',
      );
    }
    owned = false;
    createProducer = () => producer;
  }
  return Object.freeze({
    owned,
    createProducer,
    producerConfig: owned ? Object.freeze(producerConfig) : undefined,
    topic: options.topic ?? ((m: OutboxMessage) => prefix + m.topic),
    timeoutMs,
    compression: options.compression,
    unknownTopic,
    classify: options.classify,
    idHeader: headerName(options.idHeader, 'idHeader', 'outbox-id', false)!,
    attemptsHeader: headerName(options.attemptsHeader, 'attemptsHeader', 'outbox-attempts', true),
    contentTypeHeader: headerName(options.contentTypeHeader, 'contentTypeHeader', 'content-type', true),
  });
}
