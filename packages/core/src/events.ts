import type { OutboxMessage } from './message.js';

/** What one relay batch did, after its commit. */
export interface BatchEvent {
  readonly size: number;
  readonly sent: number;
  readonly retried: number;
  readonly dead: number;
  /** Claim to commit, in milliseconds. */
  readonly durationMs: number;
}

/** Events of a relay. Listeners run after the batch's commit; a throwing listener is reported as `error` and never stops the relay. */
export interface RelayEventMap {
  /** A batch was claimed, sent and recorded. */
  batch: BatchEvent;
  /** Messages the broker acknowledged (recorded as sent). */
  sent: { readonly messages: readonly OutboxMessage[] };
  /** A message failed and will be retried after `delayMs`. */
  retry: {
    readonly message: OutboxMessage;
    readonly error: unknown;
    readonly delayMs: number;
    readonly attempts: number;
  };
  /** A message reached `maxAttempts` or failed permanently. */
  dead: { readonly message: OutboxMessage; readonly error: unknown; readonly attempts: number };
  /** Anything that went wrong outside a message's own result: a lost connection, a failed commit, a throwing listener. */
  error: { readonly error: unknown; readonly operation: string };
}

type Listener<T> = (event: T) => void;

/**
 * A small typed event emitter whose `emit` never throws. A listener that throws is reported
 * through `onListenerError` when given, otherwise as an `error` event; a throwing `error`
 * listener is ignored (reporting it would recurse).
 *
 * @example
 * ```ts
 * const events = new TypedEmitter<RelayEventMap>();
 * const off = events.on('batch', ({ size, durationMs }) => metrics.observe(size, durationMs));
 * events.emit('batch', { size: 1, sent: 1, retried: 0, dead: 0, durationMs: 3 });
 * off();
 * ```
 */
export class TypedEmitter<Events extends { error: { error: unknown; operation: string } }> {
  readonly #listeners = new Map<keyof Events, Set<Listener<any>>>();
  readonly #onListenerError: ((error: unknown, event: keyof Events) => void) | undefined;

  constructor(options: { onListenerError?: (error: unknown, event: keyof Events) => void } = {}) {
    this.#onListenerError = options.onListenerError;
  }

  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener);
    return () => this.off(event, listener);
  }

  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): void {
    this.#listeners.get(event)?.delete(listener);
  }

  listenerCount(event: keyof Events): number {
    return this.#listeners.get(event)?.size ?? 0;
  }

  emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    const set = this.#listeners.get(event);
    if (!set) return;
    for (const listener of set) {
      try {
        listener(payload);
      } catch (error) {
        // An error listener that throws would recurse forever; drop it on the floor instead.
        if (event === 'error') continue;
        if (this.#onListenerError) {
          try {
            this.#onListenerError(error, event);
          } catch {
            // Same reason: the reporter of listener errors has nobody to report to.
          }
        } else this.emit('error', { error, operation: `listener:${String(event)}` } as Events['error']);
      }
    }
  }
}
