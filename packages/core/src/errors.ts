/**
 * Every error troutbox raises on purpose is an {@link OutboxError} with a stable `code`.
 *
 * Recognise one with {@link isOutboxError} rather than `instanceof`: two copies of
 * `@troutbox/core` in one process (a common outcome of package managers) would make
 * `instanceof` fail, while the `Symbol.for` brand is shared across copies.
 *
 * @example
 * ```ts
 * try { await outbox.add(db, message); }
 * catch (e) { if (isOutboxError(e, 'PAYLOAD_TOO_LARGE')) reject413(); else throw e; }
 * ```
 */
export type OutboxErrorCode =
  /** A message field has the wrong type or value. */
  | 'INVALID_MESSAGE'
  /** The encoded payload is larger than `maxPayloadBytes`. */
  | 'PAYLOAD_TOO_LARGE'
  /** The payload cannot be encoded as JSON (cycle, bigint, function, NaN…). */
  | 'UNSERIALIZABLE_PAYLOAD'
  /** A schema or table name is not a plain SQL identifier. */
  | 'INVALID_IDENTIFIER'
  /** An option has the wrong type or is out of range. */
  | 'INVALID_OPTION'
  /** The sender did not settle within `sendTimeout`. */
  | 'SEND_TIMEOUT'
  /** The sender returned a malformed result list. */
  | 'SENDER_CONTRACT'
  /** A relay method was called in a state that does not allow it. */
  | 'RELAY_STATE'
  /** A migration failed or the schema is newer than this library. */
  | 'MIGRATION_FAILED'
  /** A database operation of the store failed. */
  | 'STORE_FAILED'
  /**
   * A write through a handle that is not inside an open transaction: a pool, an ORM's root
   * client, or the handle of a transaction that has already committed or rolled back. The
   * message would otherwise commit on its own, even when the caller's transaction rolls back.
   * Opt into such writes with `autocommit: true` where the factory offers it.
   */
  | 'NOT_IN_TRANSACTION';

const BRAND = Symbol.for('troutbox.OutboxError');

/** Context attached to an {@link OutboxError}. */
export interface OutboxErrorContext {
  /** The message field at fault, as a path (`headers.traceparent`, `[3].topic`). */
  field?: string;
  /** The outbox message id concerned. */
  messageId?: string;
  /** The store operation that failed (`claim`, `complete`, `add`…). */
  operation?: string;
}

export class OutboxError extends Error {
  override readonly name = 'OutboxError';
  readonly code: OutboxErrorCode;
  readonly context: OutboxErrorContext;
  readonly [BRAND] = true;

  constructor(
    code: OutboxErrorCode,
    message: string,
    options: { cause?: unknown } & OutboxErrorContext = {},
  ) {
    const { cause, ...context } = options;
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
    this.context = context;
  }
}

/** True when `value` is an {@link OutboxError} (from any copy of this package), optionally with `code`. */
export function isOutboxError(value: unknown, code?: OutboxErrorCode): value is OutboxError {
  if (typeof value !== 'object' || value === null) return false;
  if ((value as Record<symbol, unknown>)[BRAND] !== true) return false;
  return code === undefined || (value as OutboxError).code === code;
}

/** A readable one-line description of anything thrown, for `lastError`. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const prefix = typeof code === 'string' && !error.message.includes(code) ? `${code}: ` : '';
    return `${error.name === 'Error' ? '' : `${error.name}: `}${prefix}${error.message}`;
  }
  if (typeof error === 'string') return error;
  try {
    return JSON.stringify(error) ?? String(error);
  } catch {
    return String(error);
  }
}

/**
 * The `NOT_IN_TRANSACTION` error for a handle whose transaction has committed or rolled back:
 * its connection may serve another transaction by now, so nothing may run through it.
 */
export function transactionEnded(operation = 'query'): OutboxError {
  return new OutboxError(
    'NOT_IN_TRANSACTION',
    `${operation}: the transaction of this handle has already committed or rolled back; use the handle of an open transaction`,
    { operation },
  );
}
