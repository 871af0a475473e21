/**
 * Exit codes of the `troutbox` command, one per kind of failure, so that scripts can tell a
 * typo in the URL from a database that is down or a table that was never migrated.
 *
 * | code | name                | meaning                                                           |
 * | ---- | ------------------- | ----------------------------------------------------------------- |
 * | 0    |                     | success                                                           |
 * | 1    | `FAILED`            | a database statement failed, or an unexpected error               |
 * | 2    | `USAGE`             | bad arguments, unknown command or option, unsupported feature     |
 * | 3    | `BAD_URL`           | no URL, an unparseable URL, or an unsupported protocol            |
 * | 4    | `CONNECTION_FAILED` | the database could not be reached or refused the login            |
 * | 5    | `TABLE_MISSING`     | the outbox table does not exist (run `troutbox migrate`)          |
 * | 6    | `NOT_FOUND`         | a message id is unknown, or not a dead letter                      |
 * | 7    | `NOT_CONFIRMED`     | a purge was declined, or could not be confirmed (no TTY, no --yes) |
 *
 * @example
 * ```ts
 * import { exitCodes, main } from 'troutbox';
 * const code = await main(['status', '--json']);
 * if (code === exitCodes.TABLE_MISSING) await main(['migrate']);
 * ```
 */
export const exitCodes = Object.freeze({
  FAILED: 1,
  USAGE: 2,
  BAD_URL: 3,
  CONNECTION_FAILED: 4,
  TABLE_MISSING: 5,
  NOT_FOUND: 6,
  NOT_CONFIRMED: 7,
} as const);

/** The name of a failure, as printed in `--json` errors (`{"error":{"code":"TABLE_MISSING",…}}`). */
export type CliErrorCode = keyof typeof exitCodes;

/**
 * A failure the CLI explains to the user: a message, a `code` that picks the exit code, and an
 * optional hint (what to do next).
 *
 * @example
 * ```ts
 * throw new CliError('NOT_FOUND', 'no message with id 42');
 * ```
 */
export class CliError extends Error {
  override readonly name = 'CliError';
  readonly code: CliErrorCode;
  readonly hint: string | undefined;

  constructor(code: CliErrorCode, message: string, options: { cause?: unknown; hint?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.hint = options.hint;
  }

  get exitCode(): number {
    return exitCodes[this.code];
  }
}
