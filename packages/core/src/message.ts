import { OutboxError } from './errors.js';

/** Any value that survives `JSON.stringify` → `JSON.parse` unchanged. */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | readonly JsonValue[]
  | { readonly [key: string]: JsonValue };

/**
 * A message as application code writes it, inside its business transaction.
 *
 * @example
 * ```ts
 * await outbox.add(tx, { topic: 'orders', key: order.id, payload: { type: 'OrderPlaced', order } });
 * ```
 */
export interface NewMessage {
  /** Destination: a queue, exchange, subject or stream name, mapped by the sender. */
  topic: string;
  /** Ordering and partitioning key (an aggregate id, say). */
  key?: string | null;
  /** A JSON value (stored as UTF-8 JSON) or raw bytes (stored as given). */
  payload: JsonValue | Uint8Array;
  /** String headers delivered with the message; the W3C `traceparent` goes here. */
  headers?: Readonly<Record<string, string>>;
  /** Deliver no earlier than this instant (scheduled delivery). Defaults to the database's `now()`. */
  availableAt?: Date;
}

/** `application/json` for JSON payloads, `application/octet-stream` for bytes. */
export type ContentType = 'application/json' | 'application/octet-stream';

/** Lifecycle of a stored message. */
export type MessageStatus = 'pending' | 'sent' | 'dead';

/** A message as the relay hands it to a {@link Sender}. */
export interface OutboxMessage {
  /** Monotonic id, as a decimal string (it is a 64-bit integer in the database). */
  readonly id: string;
  readonly topic: string;
  readonly key: string | null;
  /** The payload bytes (UTF-8 JSON when `contentType` is `application/json`). */
  readonly payload: Uint8Array;
  readonly contentType: ContentType;
  readonly headers: Readonly<Record<string, string>>;
  readonly createdAt: Date;
  /** Failed delivery attempts before this one. */
  readonly attempts: number;
}

/** A stored message with its delivery state, as listed by the dead-letter and admin APIs. */
export interface StoredMessage extends OutboxMessage {
  readonly status: MessageStatus;
  readonly availableAt: Date;
  readonly lastError: string | null;
  readonly sentAt: Date | null;
}

/** A validated, encoded message ready for the insert statement. */
export interface EncodedMessage {
  readonly topic: string;
  readonly key: string | null;
  readonly payload: Uint8Array;
  readonly contentType: ContentType;
  /** Headers as a JSON object text. */
  readonly headers: string;
  readonly availableAt: Date | null;
}

/**
 * The instants a table's timestamp columns can hold, both ends included (see
 * `Dialect.timestampRange`): an `availableAt` outside it is refused before any SQL.
 */
export interface TimestampRange {
  readonly min: Date;
  readonly max: Date;
}

/** Limits applied to every message before anything is written. */
export interface MessageLimits {
  /** @defaultValue 1 MiB */
  maxPayloadBytes: number;
  /** @defaultValue 255 */
  maxTopicLength: number;
  /** @defaultValue 255 */
  maxKeyLength: number;
  /** Total size of header names and values. @defaultValue 16 KiB */
  maxHeaderBytes: number;
}

export const defaultMessageLimits: Readonly<MessageLimits> = Object.freeze({
  maxPayloadBytes: 1024 * 1024,
  maxTopicLength: 255,
  maxKeyLength: 255,
  maxHeaderBytes: 16 * 1024,
});

const encoder = new TextEncoder();

function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      // A surrogate pair is one code point of four bytes.
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}
const KNOWN_FIELDS = new Set(['topic', 'key', 'payload', 'headers', 'availableAt']);

// Half of a surrogate pair with no other half: a string cut inside an emoji, say.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Refuse text the database would refuse or change. PostgreSQL cannot store NUL in text or jsonb
 * (22021, 22P05), and the error aborts the caller's whole transaction; MySQL stores it, but a
 * message must mean the same on every database. A lone surrogate has no UTF-8 form: drivers
 * silently replace it with U+FFFD, so the consumer would see another topic, key or header than
 * the producer wrote.
 */
function checkText(text: string, field: string, what = ''): void {
  if (text.includes('\u0000')) {
    fail('INVALID_MESSAGE', field, `${what}contains a NUL character (U+0000), which PostgreSQL cannot store`);
  }
  if (LONE_SURROGATE.test(text)) {
    fail(
      'INVALID_MESSAGE',
      field,
      `${what}contains a lone UTF-16 surrogate (half of a character, as when a string is cut inside an emoji), which has no UTF-8 form`,
    );
  }
}

function fail(
  code: 'INVALID_MESSAGE' | 'PAYLOAD_TOO_LARGE' | 'UNSERIALIZABLE_PAYLOAD',
  field: string,
  why: string,
): never {
  throw new OutboxError(code, `outbox message ${field}: ${why}`, { field });
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (value instanceof Date) return 'Date';
  return typeof value;
}

// JSON.stringify silently drops undefined and functions and turns NaN into null; a payload must
// arrive at the consumer as the producer wrote it, so anything that would not round-trip is an error.
function checkJson(value: unknown, path: string, seen: Set<object>): void {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value))
        fail('UNSERIALIZABLE_PAYLOAD', path, `${value} is not representable in JSON`);
      return;
    case 'object': {
      if (value === null) return;
      if (seen.has(value)) fail('UNSERIALIZABLE_PAYLOAD', path, 'contains a circular reference');
      if (ArrayBuffer.isView(value))
        fail('UNSERIALIZABLE_PAYLOAD', path, 'binary data can only be the whole payload');
      seen.add(value);
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) checkJson(value[i], `${path}[${i}]`, seen);
      } else {
        const proto = Object.getPrototypeOf(value);
        if (proto !== Object.prototype && proto !== null && !(value instanceof Date)) {
          if (typeof (value as { toJSON?: unknown }).toJSON !== 'function') {
            fail(
              'UNSERIALIZABLE_PAYLOAD',
              path,
              `${proto?.constructor?.name ?? 'object'} instances are not plain JSON`,
            );
          }
        }
        if (!(value instanceof Date) && typeof (value as { toJSON?: unknown }).toJSON !== 'function') {
          for (const [k, v] of Object.entries(value)) checkJson(v, `${path}.${k}`, seen);
        }
      }
      seen.delete(value);
      return;
    }
    default:
      fail('UNSERIALIZABLE_PAYLOAD', path, `${typeof value} is not representable in JSON`);
  }
}

/**
 * Validate and encode one message. `range`, when given, bounds `availableAt` (the dialect's
 * {@link TimestampRange}).
 *
 * @example
 * ```ts
 * const encoded = encodeMessage({ topic: 'orders', payload: { id: 1 } }, defaultMessageLimits, '', dialect.timestampRange);
 * ```
 * @throws OutboxError `INVALID_MESSAGE`, `PAYLOAD_TOO_LARGE` or `UNSERIALIZABLE_PAYLOAD`
 */
export function encodeMessage(
  input: NewMessage,
  limits: MessageLimits = defaultMessageLimits,
  at = '',
  range?: TimestampRange,
): EncodedMessage {
  const p = (field: string) => (at ? `${at}.${field}` : field);
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    fail('INVALID_MESSAGE', at || 'message', `expected an object, got ${typeName(input)}`);
  }
  for (const field of Object.keys(input)) {
    if (!KNOWN_FIELDS.has(field)) fail('INVALID_MESSAGE', p(field), 'is not a message field');
  }
  const { topic, key, payload, headers, availableAt } = input;
  if (typeof topic !== 'string' || topic.length === 0) {
    fail('INVALID_MESSAGE', p('topic'), `expected a non-empty string, got ${typeName(topic)}`);
  }
  if (topic.length > limits.maxTopicLength)
    fail('INVALID_MESSAGE', p('topic'), `longer than ${limits.maxTopicLength}`);
  checkText(topic, p('topic'));
  if (key !== undefined && key !== null) {
    if (typeof key !== 'string')
      fail('INVALID_MESSAGE', p('key'), `expected a string or null, got ${typeName(key)}`);
    if (key.length > limits.maxKeyLength)
      fail('INVALID_MESSAGE', p('key'), `longer than ${limits.maxKeyLength}`);
    checkText(key, p('key'));
  }
  if (payload === undefined)
    fail('INVALID_MESSAGE', p('payload'), 'is required (use null for an empty JSON payload)');
  let bytes: Uint8Array;
  let contentType: ContentType;
  if (payload instanceof Uint8Array) {
    bytes = payload;
    contentType = 'application/octet-stream';
  } else {
    checkJson(payload, p('payload'), new Set());
    let text: string | undefined;
    try {
      text = JSON.stringify(payload) as string | undefined;
    } catch (cause) {
      throw new OutboxError('UNSERIALIZABLE_PAYLOAD', `outbox message ${p('payload')}: ${String(cause)}`, {
        field: p('payload'),
        cause,
      });
    }
    // A toJSON() that returns undefined (or a function) makes stringify return undefined,
    // which would otherwise be stored as the text "undefined".
    if (text === undefined) fail('UNSERIALIZABLE_PAYLOAD', p('payload'), 'does not serialise to JSON');
    bytes = encoder.encode(text);
    contentType = 'application/json';
  }
  if (bytes.byteLength > limits.maxPayloadBytes) {
    fail(
      'PAYLOAD_TOO_LARGE',
      p('payload'),
      `${bytes.byteLength} bytes exceeds the limit of ${limits.maxPayloadBytes}`,
    );
  }
  let headerText = '{}';
  if (headers !== undefined) {
    if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) {
      fail('INVALID_MESSAGE', p('headers'), `expected an object of strings, got ${typeName(headers)}`);
    }
    let size = 0;
    const clean: Record<string, string> = {};
    for (const [name, value] of Object.entries(headers)) {
      if (name.length === 0) fail('INVALID_MESSAGE', p('headers'), 'a header name is empty');
      // An own property of that name (JSON.parse makes one) would be dropped, or set the
      // prototype of the headers object, wherever they are copied on the way to the broker.
      if (name === '__proto__')
        fail('INVALID_MESSAGE', p('headers.__proto__'), 'is not a usable header name');
      checkText(name, p('headers'), `the header name ${JSON.stringify(name)} `);
      if (typeof value !== 'string') {
        fail('INVALID_MESSAGE', p(`headers.${name}`), `expected a string, got ${typeName(value)}`);
      }
      checkText(value, p(`headers.${name}`));
      // The limit is in bytes, as brokers count header size; UTF-16 length undercounts.
      size += utf8Length(name) + utf8Length(value);
      clean[name] = value;
    }
    if (size > limits.maxHeaderBytes)
      fail('INVALID_MESSAGE', p('headers'), `larger than ${limits.maxHeaderBytes} bytes`);
    headerText = JSON.stringify(clean);
  }
  if (availableAt !== undefined && availableAt !== null) {
    if (!(availableAt instanceof Date) || Number.isNaN(availableAt.getTime())) {
      fail('INVALID_MESSAGE', p('availableAt'), `expected a valid Date, got ${typeName(availableAt)}`);
    }
    // Out of the column's range the database would fail the statement (and, on PostgreSQL,
    // the caller's transaction with it).
    const time = availableAt.getTime();
    if (range && (time < range.min.getTime() || time > range.max.getTime())) {
      fail(
        'INVALID_MESSAGE',
        p('availableAt'),
        `${availableAt.toISOString()} is outside what the table can store (${range.min.toISOString()} to ${range.max.toISOString()})`,
      );
    }
  }
  return {
    topic,
    key: key ?? null,
    payload: bytes,
    contentType,
    headers: headerText,
    availableAt: availableAt ?? null,
  };
}

/**
 * Validate and encode one message or a list; throws before anything is written. `range`, when
 * given, bounds `availableAt` (pass the dialect's `timestampRange`).
 *
 * @example
 * ```ts
 * const encoded = encodeMessages(messages, defaultMessageLimits, dialect.timestampRange);
 * ```
 */
export function encodeMessages(
  input: NewMessage | readonly NewMessage[],
  limits: MessageLimits = defaultMessageLimits,
  range?: TimestampRange,
): EncodedMessage[] {
  if (Array.isArray(input)) return input.map((m, i) => encodeMessage(m, limits, `[${i}]`, range));
  return [encodeMessage(input as NewMessage, limits, '', range)];
}

const decoder = new TextDecoder();

/** Decode a JSON message payload. */
export function payloadJson<T = JsonValue>(message: Pick<OutboxMessage, 'payload'>): T {
  return JSON.parse(decoder.decode(message.payload)) as T;
}

/** Decode a payload as UTF-8 text. */
export function payloadText(message: Pick<OutboxMessage, 'payload'>): string {
  return decoder.decode(message.payload);
}
