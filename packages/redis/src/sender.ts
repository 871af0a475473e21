import {
  dead,
  failAll,
  OutboxError,
  type OutboxMessage,
  optionChecks,
  retry,
  type Sender,
  type SendResult,
  sent,
} from '@troutbox/core';
import { Redis, type RedisOptions } from 'ioredis';
import { XADD_ONCE_LUA, XADD_ONCE_SHA } from './script.js';

type Arg = string | Buffer | number;

/** The part of an ioredis pipeline the sender uses. */
export interface RedisPipelineLike {
  evalsha(sha: string, numKeys: number, ...args: Arg[]): unknown;
  xadd(key: string, ...args: Arg[]): unknown;
  exec(): Promise<[error: Error | null, result: unknown][] | null>;
}

/**
 * The part of an ioredis client (`Redis`, standalone or Sentinel) the sender uses. Typed by
 * shape, so a client from another copy of ioredis is accepted.
 */
export interface RedisLike {
  pipeline(): RedisPipelineLike;
  script(subcommand: 'LOAD', script: string): Promise<unknown>;
  readonly status?: string;
}

/** Options of {@link redisSender}. */
export interface RedisSenderOptions {
  /**
   * An existing ioredis client. It stays yours: the sender never closes it. When neither this
   * nor `url` is given, the sender connects to `redis://127.0.0.1:6379`.
   */
  redis?: RedisLike;
  /** Redis URL for a client the sender opens, owns, closes, and re-opens if it has ended. */
  url?: string;
  /**
   * Further ioredis options for the client the sender opens.
   * @defaultValue `{ maxRetriesPerRequest: 2 }`, so a Redis outage fails a batch in seconds (to be retried) rather than holding it
   */
  redisOptions?: RedisOptions;
  /** The stream key of a message. Mutually exclusive with `streamPrefix`. @defaultValue the topic, prefixed with `streamPrefix` */
  stream?: (message: OutboxMessage) => string;
  /** Prepended to the topic to make the stream key (`'events:'` sends topic `orders` to `events:orders`). @defaultValue `''` */
  streamPrefix?: string;
  /** Trim each stream to about this many entries (`XADD … MAXLEN ~ n`). @defaultValue no trimming */
  maxLen?: number;
  /**
   * Drop re-sends of a message already added to its stream, by a key
   * `<dedupePrefix>:dedupe:<stream>:<outbox id>` set (with the entry id) in the same script
   * as the XADD. `false` sends plain XADDs: faster, and consumers dedupe by the `id` field.
   * @defaultValue true
   */
  dedupe?: boolean;
  /**
   * How long a dedupe key lives. It must outlast the time between a send and the relay's
   * commit, and the time a crashed relay's locks take to be released (the database notices a
   * dead session within seconds unless the machine itself vanished). Each key costs about
   * 100 bytes of Redis memory: messages/s × TTL (s) × 100 bytes.
   * @defaultValue 600000 (10 minutes)
   */
  dedupeTtlMs?: number;
  /** First part of the dedupe keys. Give each outbox table writing to the same streams its own prefix: their ids collide. @defaultValue `'troutbox'` */
  dedupePrefix?: string;
  /** Override the classification of a per-message error; return `undefined` to keep the default. */
  classify?: (error: unknown, message: OutboxMessage) => 'retry' | 'dead' | undefined;
}

interface Resolved {
  readonly redis: RedisLike | undefined;
  readonly url: string;
  readonly redisOptions: RedisOptions;
  readonly stream: (message: OutboxMessage) => string;
  readonly maxLen: number;
  readonly dedupe: boolean;
  readonly dedupeTtlMs: number;
  readonly dedupePrefix: string;
  readonly classify: RedisSenderOptions['classify'];
}

const { invalid, positiveInt, optionalString } = optionChecks('redisSender');

function resolveOptions(options: RedisSenderOptions): Resolved {
  if (options === null || typeof options !== 'object') invalid('options must be an object');
  const { redis } = options;
  if (
    redis !== undefined &&
    (typeof redis !== 'object' ||
      redis === null ||
      typeof redis.pipeline !== 'function' ||
      typeof redis.script !== 'function')
  ) {
    invalid('redis must be an ioredis client (with pipeline() and script())');
  }
  const url = optionalString(options.url, 'url');
  if (redis && url) invalid('give redis or url, not both');
  if (options.stream !== undefined && typeof options.stream !== 'function') {
    invalid('stream must be a function (message) => string');
  }
  const prefix = optionalString(options.streamPrefix, 'streamPrefix') ?? '';
  if (options.stream && prefix) invalid('give stream or streamPrefix, not both');
  if (options.dedupe !== undefined && typeof options.dedupe !== 'boolean')
    invalid('dedupe must be a boolean');
  if (options.classify !== undefined && typeof options.classify !== 'function') {
    invalid('classify must be a function');
  }
  const dedupePrefix = optionalString(options.dedupePrefix, 'dedupePrefix') ?? 'troutbox';
  if (dedupePrefix === '') invalid('dedupePrefix must not be empty');
  return Object.freeze({
    redis,
    url: url ?? 'redis://127.0.0.1:6379',
    redisOptions: { maxRetriesPerRequest: 2, ...options.redisOptions },
    stream: options.stream ?? ((m: OutboxMessage) => prefix + m.topic),
    maxLen: options.maxLen === undefined ? 0 : positiveInt(options.maxLen, 'maxLen', 0),
    dedupe: options.dedupe ?? true,
    dedupeTtlMs: positiveInt(options.dedupeTtlMs, 'dedupeTtlMs', 600_000),
    dedupePrefix,
    classify: options.classify,
  });
}

/**
 * The stream entry fields of a message: `id`, `topic`, `key` (when it has one), `payload`
 * (the bytes as stored), `content-type`, `headers` (a JSON object, with `traceparent`).
 *
 * @example
 * ```ts
 * redisEntryFields(message); // ['id', '42', 'topic', 'orders', 'key', 'o-1', 'payload', <Buffer>, 'content-type', 'application/json', 'headers', '{"traceparent":"00-…"}']
 * ```
 */
export function redisEntryFields(message: OutboxMessage): (string | Buffer)[] {
  const fields: (string | Buffer)[] = ['id', message.id, 'topic', message.topic];
  if (message.key !== null) fields.push('key', message.key);
  fields.push(
    'payload',
    Buffer.from(message.payload.buffer, message.payload.byteOffset, message.payload.byteLength),
    'content-type',
    message.contentType,
    'headers',
    JSON.stringify(message.headers),
  );
  return fields;
}

// Reply errors that say "not now" rather than "never": memory full, a busy or loading server,
// a replica after a failover, missing permissions or authentication (fixed by an operator).
const TRANSIENT = /^(OOM|BUSY|LOADING|READONLY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|NOPERM|NOAUTH|MOVED|ASK)\b/;

/**
 * Decide whether a failed XADD is worth retrying. A key of another type than a stream
 * (`WRONGTYPE`) or another `ERR` reply is `dead`: sending again cannot succeed. Everything
 * else — a lost connection, a timeout, an out-of-memory or busy server — is `retry`.
 *
 * @example
 * ```ts
 * classifyRedisError(new Error('WRONGTYPE Operation against a key holding the wrong kind of value')); // 'dead'
 * ```
 */
export function classifyRedisError(error: unknown): 'retry' | 'dead' {
  const name = (error as { name?: unknown })?.name;
  const message = String((error as { message?: unknown })?.message ?? '');
  // A lost connection (AbortError), a timeout or MaxRetriesPerRequestError is not a reply:
  // the server may never have seen the command.
  if (name !== 'ReplyError') return 'retry';
  if (TRANSIENT.test(message)) return 'retry';
  if (/^(WRONGTYPE|ERR)\b/.test(message)) return 'dead';
  return 'retry';
}

/** A Redis Streams sender; see {@link redisSender}. */
export interface RedisSender extends Sender {
  readonly name: 'redis';
  /** The client in use, or `undefined` before the first send of an owned client. */
  readonly redis: RedisLike | undefined;
  /** Quit the client if the sender opened it. Later sends open a new one. */
  close(): Promise<void>;
}

function isNoScript(error: unknown): boolean {
  return /^NOSCRIPT\b/.test(String((error as { message?: unknown })?.message ?? ''));
}

/**
 * A {@link Sender} that adds each message to a Redis stream (`XADD`), one pipeline per batch,
 * with a result per message from that message's own reply.
 *
 * Idempotent by default: a Lua script adds the entry only if the dedupe key
 * `<dedupePrefix>:dedupe:<stream>:<outbox id>` is absent and sets it in the same atomic step,
 * so a batch sent again (after a relay crash, or a reply lost with the connection) adds no
 * second entry while the key lives (`dedupeTtlMs`). Consumers see each message once per
 * window, and can dedupe beyond it by the entry's `id` field.
 *
 * @example
 * ```ts
 * const relay = createRelay({
 *   store,
 *   sender: redisSender({ url: 'redis://127.0.0.1:6379', streamPrefix: 'events:', maxLen: 1_000_000 }),
 *   batchSize: 500,
 *   closeSender: true,
 * });
 * await relay.start();
 * ```
 */
export function redisSender(options: RedisSenderOptions = {}): RedisSender {
  const o = resolveOptions(options);
  const owned = o.redis === undefined;
  let client: (RedisLike & { quit?: () => Promise<unknown> }) | undefined = o.redis;
  const maxLen = String(o.maxLen);
  const ttl = String(o.dedupeTtlMs);

  function current(): RedisLike {
    if (client && !(owned && client.status === 'end')) return client;
    const created = new Redis(o.url, o.redisOptions);
    // Without a listener ioredis reports every reconnect on stderr; the failed commands
    // already reject and become retries.
    created.on('error', () => {});
    client = created as unknown as RedisLike;
    return client;
  }

  function enqueue(pipeline: RedisPipelineLike, message: OutboxMessage, stream: string): void {
    const fields = redisEntryFields(message);
    if (!o.dedupe) {
      if (o.maxLen > 0) pipeline.xadd(stream, 'MAXLEN', '~', maxLen, '*', ...fields);
      else pipeline.xadd(stream, '*', ...fields);
      return;
    }
    const key = `${o.dedupePrefix}:dedupe:${stream}:${message.id}`;
    pipeline.evalsha(XADD_ONCE_SHA, 2, stream, key, ttl, maxLen, ...fields);
  }

  function classify(error: unknown, message: OutboxMessage): SendResult {
    const verdict = o.classify?.(error, message) ?? classifyRedisError(error);
    return verdict === 'dead' ? dead(error) : retry(error);
  }

  /** Send `indexes` of `messages` in one pipeline; fill `results`; return the indexes Redis did not know the script for. */
  async function round(
    redis: RedisLike,
    messages: readonly OutboxMessage[],
    streams: readonly string[],
    indexes: readonly number[],
    results: SendResult[],
  ): Promise<number[]> {
    const pipeline = redis.pipeline();
    for (const i of indexes) enqueue(pipeline, messages[i]!, streams[i]!);
    let replies: [Error | null, unknown][] | null;
    try {
      replies = await pipeline.exec();
    } catch (error) {
      for (const i of indexes) results[i] = retry(error);
      return [];
    }
    const noScript: number[] = [];
    indexes.forEach((i, n) => {
      const reply = replies?.[n];
      if (!reply) {
        results[i] = retry(new Error('redisSender: no reply for this command'));
      } else if (reply[0]) {
        if (isNoScript(reply[0])) noScript.push(i);
        else results[i] = classify(reply[0], messages[i]!);
      } else {
        // An entry id, or {1|0, id} from the script: added now, or added before.
        results[i] = sent();
      }
    });
    return noScript;
  }

  return {
    name: 'redis',
    get redis() {
      return client;
    },
    async send(messages, { signal }): Promise<readonly SendResult[]> {
      if (messages.length === 0) return [];
      // A pipeline cannot be recalled once written; an aborted send must not start one.
      if (signal.aborted) return failAll(messages, signal.reason);
      const results = new Array<SendResult>(messages.length);
      const streams: string[] = [];
      const todo: number[] = [];
      messages.forEach((message, i) => {
        let stream: string;
        try {
          stream = o.stream(message);
          if (typeof stream !== 'string' || stream.length === 0) {
            throw new OutboxError(
              'INVALID_MESSAGE',
              `redisSender: ${JSON.stringify(stream)} is not a stream key`,
              {
                messageId: message.id,
                field: 'topic',
              },
            );
          }
        } catch (error) {
          results[i] = dead(error);
          streams.push('');
          return;
        }
        streams.push(stream);
        todo.push(i);
      });
      if (todo.length === 0) return results;
      let redis: RedisLike;
      try {
        redis = current();
      } catch (error) {
        return failAll(messages, error);
      }
      const missing = await round(redis, messages, streams, todo, results);
      if (missing.length > 0) {
        // First use on this server, or its script cache was flushed (a restart): load the
        // script and send just those messages again — the script never ran for them.
        try {
          await redis.script('LOAD', XADD_ONCE_LUA);
        } catch (error) {
          for (const i of missing) results[i] = retry(error);
          return results;
        }
        const still = await round(redis, messages, streams, missing, results);
        for (const i of still) results[i] = retry(new Error('NOSCRIPT after SCRIPT LOAD'));
      }
      return results;
    },
    async close() {
      const c = client;
      if (!owned || !c) return;
      client = undefined;
      if (c.status !== 'end') await c.quit?.().catch(() => {});
    },
  };
}
