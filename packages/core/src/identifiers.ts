import { OutboxError } from './errors.js';

// Plain identifiers only: letters, digits, underscore; not starting with a digit. Quoting would
// make other names legal, but names with spaces or quotes in them are nearly always a mistake
// (or an attack through configuration), and partition names are derived from the table name.
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Check that `value` is a plain SQL identifier of at most `maxLength` characters.
 * @throws OutboxError `INVALID_IDENTIFIER`
 */
export function validateIdentifier(value: unknown, what: string, maxLength = 48): string {
  if (typeof value !== 'string' || !IDENTIFIER.test(value) || value.length > maxLength) {
    throw new OutboxError(
      'INVALID_IDENTIFIER',
      `${what} must be a plain SQL identifier (letters, digits, _; not starting with a digit; at most ${maxLength} characters), got ${JSON.stringify(value)}`,
      { field: what },
    );
  }
  return value;
}

/** Quote a validated identifier for PostgreSQL. */
export function quotePg(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`;
}

/** Quote a validated identifier for MySQL and MariaDB. */
export function quoteMysql(identifier: string): string {
  return `\`${identifier.replaceAll('`', '``')}\``;
}
