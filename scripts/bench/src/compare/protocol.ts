import type { SystemId, VariantName } from './types.js';

/** Messages between the coordinator (main.ts) and a worker process (worker.ts), over IPC. */
export type ToWorker =
  | {
      type: 'init';
      system: SystemId;
      variant: VariantName;
      schema: string;
      databaseUrl: string;
      mode: 'drain' | 'latency';
      latency?: { ratePerSec: number; messages: number; producers: number; settleMs: number; warmup: number };
    }
  | { type: 'go' }
  | { type: 'stop' };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'progress'; handled: number; lastAt: number }
  | { type: 'latency'; latencies: (number | null)[] }
  | { type: 'stopped'; handled: number; peakRssBytes: number }
  | { type: 'error'; message: string };

/** Wall-clock milliseconds with sub-millisecond precision, comparable between processes. */
export function wallMs(): number {
  return performance.timeOrigin + performance.now();
}
