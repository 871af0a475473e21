/** How {@link classifyNatsError} treats errors that depend on configuration rather than on the message. */
export interface NatsErrorPolicy {
  /** A subject no stream stores ("no responders"), or a missing expected stream. */
  readonly noStream: 'retry' | 'dead';
}

function field(error: unknown, name: string): unknown {
  return typeof error === 'object' && error !== null ? (error as Record<string, unknown>)[name] : undefined;
}

function isNoResponders(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e !== undefined && depth < 5; e = field(e, 'cause'), depth++) {
    const name = field(e, 'name');
    if (name === 'NoResponders' || name === 'JetStreamNotEnabled') return true;
    const check = field(e, 'isNoResponders');
    if (typeof check === 'function' && check.call(e) === true) return true;
  }
  return false;
}

/**
 * Decide whether a failed JetStream publish is worth retrying. Errors are recognised by
 * `name` and by the JetStream API error's `status`, never by `instanceof`, so errors from any
 * copy of the client library are classified alike.
 *
 * - no stream stores the subject, or the stream is missing → `policy.noStream`;
 * - the stream refused the message with a 4xx status (too large, wrong expected stream…) → `dead`;
 * - a 5xx status (store failed, stream full with `discard: new`, resources), 408, 429 → `retry`;
 * - an invalid subject or header → `dead`;
 * - anything else (timeouts, a closed or reconnecting connection, permissions) → `retry`.
 *
 * @example
 * ```ts
 * natsSender({ classify: (error) => (classifyNatsError(error, { noStream: 'dead' }) === 'dead' ? 'dead' : undefined) });
 * ```
 */
export function classifyNatsError(error: unknown, policy: NatsErrorPolicy): 'retry' | 'dead' {
  if (isNoResponders(error)) return policy.noStream;
  const name = field(error, 'name');
  if (name === 'StreamNotFoundError') return policy.noStream;
  if (name === 'InvalidSubjectError' || name === 'InvalidArgumentError') return 'dead';
  if (name === 'JetStreamApiError') {
    const status = field(error, 'status');
    if (typeof status === 'number') {
      if (status === 404) return policy.noStream;
      if (status >= 500 || status === 408 || status === 429) return 'retry';
      if (status >= 400) return 'dead';
    }
  }
  return 'retry';
}
