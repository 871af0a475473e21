import type { InputStream } from './io.js';

/** Read one line from `input`; null when it ends first. */
export function readLine(input: InputStream): Promise<string | null> {
  return new Promise((resolve) => {
    let buffer = '';
    const onData = (chunk: Buffer | string) => {
      buffer += chunk.toString();
      const end = buffer.indexOf('\n');
      if (end >= 0) done(buffer.slice(0, end));
    };
    const onEnd = () => done(buffer.length > 0 ? buffer : null);
    const done = (line: string | null) => {
      input.off('data', onData);
      input.off('end', onEnd);
      input.off('close', onEnd);
      // A paused stdin no longer keeps the process alive once the command is done.
      input.pause?.();
      resolve(line);
    };
    input.on('data', onData);
    input.on('end', onEnd);
    input.on('close', onEnd);
    input.resume?.();
  });
}

/** True for `y` or `yes` (any case); anything else, or no answer, is no. */
export function isYes(answer: string | null): boolean {
  return answer !== null && /^\s*y(es)?\s*$/i.test(answer);
}
