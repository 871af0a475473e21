import { OutboxError } from '@troutbox/core';

/**
 * Check that `options` is an options object (or absent) with only the names `known`: a misspelt
 * or misplaced option (`tabel`, `database` on PostgreSQL) is an `INVALID_OPTION` at the call
 * that takes it, instead of being ignored while the default it meant to change applies.
 */
export function checkOptionNames(where: string, options: unknown, known: readonly string[]): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new OutboxError('INVALID_OPTION', `${where}: options must be an object, got ${String(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new OutboxError(
        'INVALID_OPTION',
        `${where}: unknown option "${key}" (known: ${known.join(', ')})`,
      );
    }
  }
}

/** A short description of an option value for an error message. */
export function describeValue(value: unknown): string {
  if (typeof value !== 'object' || value === null)
    return typeof value === 'string' ? `"${value}"` : String(value);
  if (Array.isArray(value)) return 'an array';
  const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' && name !== 'Object' ? `a ${name}` : 'a plain object';
}
