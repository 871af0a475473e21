import { count } from './format.js';
import type { OutputStream } from './io.js';

/** Reports how far a bulk requeue or purge has got. */
export interface Progress {
  /** `done` rows so far (a running total, as core's `onProgress` gives it). */
  update(done: number): void;
  /** End the bar's line. */
  finish(): void;
}

const QUIET: Progress = { update() {}, finish() {} };
const REDRAW_MS = 100;

/**
 * A progress bar on a terminal, redrawn in place and at most every 100 ms; plain lines
 * (`purged 5,000 of 12,000 (41%)`) when `out` is a pipe or a file, so logs stay readable.
 * Only long runs get one: `total` above the batch size, i.e. more than one statement.
 */
export function createProgress(options: {
  out: OutputStream;
  verb: string;
  total: number;
  batchSize: number;
}): Progress {
  const { out, verb, total, batchSize } = options;
  if (total <= batchSize) return QUIET;
  const percent = (done: number) => Math.min(100, Math.floor((done / total) * 100));
  if (!out.isTTY) {
    let reported = -1;
    return {
      update(done) {
        // Core reports after every statement, the last (empty) one included: print each total once.
        if (done === reported) return;
        reported = done;
        out.write(`${verb} ${count(done)} of ${count(total)} (${percent(done)}%)\n`);
      },
      finish() {},
    };
  }
  let last = 0;
  let drawn = false;
  const draw = (done: number) => {
    const label = ` ${percent(done)}% ${count(done)}/${count(total)} ${verb}`;
    const width = Math.max(10, Math.min(40, (out.columns || 80) - label.length - 3));
    const filled = Math.round((Math.min(done, total) / total) * width);
    out.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]${label}`);
    drawn = true;
  };
  return {
    update(done) {
      const now = Date.now();
      if (done < total && now - last < REDRAW_MS) return;
      last = now;
      draw(done);
    },
    finish() {
      if (drawn) out.write('\n');
    },
  };
}
