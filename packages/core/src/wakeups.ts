// In-process wake-ups: a write through troutbox signals the relays of the same table in this
// process at once (before its commit; the relay keeps looking for a short while after a wake).
// Keyed by the dialect's channel, so it works on every database, NOTIFY or not.

const listeners = new Map<string, Set<() => void>>();

/** Call `fn` whenever this process writes messages to the table of `channel`; returns an unsubscribe. */
export function onLocalWrite(channel: string, fn: () => void): () => void {
  let set = listeners.get(channel);
  if (!set) {
    set = new Set();
    listeners.set(channel, set);
  }
  set.add(fn);
  return () => {
    set.delete(fn);
    if (set.size === 0 && listeners.get(channel) === set) listeners.delete(channel);
  };
}

/** Tell this process's relays of `channel` that messages were written. Never throws. */
export function signalLocalWrite(channel: string): void {
  const set = listeners.get(channel);
  if (!set) return;
  for (const fn of set) {
    try {
      fn();
    } catch {
      // A wake-up hint must never fail the producer's business transaction.
    }
  }
}
