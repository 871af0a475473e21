/** Where the CLI writes: `process.stdout`/`process.stderr`, or anything with `write` in tests. */
export interface OutputStream {
  write(chunk: string): unknown;
  /** True on a terminal: progress bars redraw in place; otherwise progress is printed as lines. */
  isTTY?: boolean;
  /** Terminal width, for progress bars and tables. */
  columns?: number;
}

/** Where confirmations are read from: `process.stdin`, or a stream in tests. */
export interface InputStream {
  /** True on a terminal; `dead purge` asks for confirmation only there. */
  isTTY?: boolean;
  on(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  on(event: 'end' | 'close', listener: () => void): unknown;
  off(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  off(event: 'end' | 'close', listener: () => void): unknown;
  resume?(): unknown;
  pause?(): unknown;
}

/**
 * The process surface `main` uses, passed in so the CLI runs in-process in tests and in other
 * programs.
 *
 * @example
 * ```ts
 * const out: string[] = [];
 * const code = await main(['status', '--json'], {
 *   stdout: { write: (s) => out.push(s) },
 *   stderr: process.stderr,
 *   stdin: process.stdin,
 *   env: { DATABASE_URL: 'postgres://localhost/app' },
 * });
 * ```
 */
export interface CliIO {
  stdout: OutputStream;
  stderr: OutputStream;
  stdin: InputStream;
  env: Readonly<Record<string, string | undefined>>;
}

/** The real process's streams and environment. */
export function processIO(): CliIO {
  return { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env };
}
