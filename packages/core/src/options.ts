import { OutboxError } from './errors.js';

/** The checks every options resolver uses, each throwing `OutboxError('INVALID_OPTION')`. */
export interface OptionChecks {
  /** Throw an `INVALID_OPTION` error with the owner's prefix. */
  invalid(message: string): never;
  /** An integer ≥ `min` (default 1), or `fallback` when undefined. */
  positiveInt(value: unknown, name: string, fallback: number, min?: number): number;
  /** A string, or undefined. */
  optionalString(value: unknown, name: string): string | undefined;
}

/**
 * Option checks whose errors name their owner (`natsSender: concurrency must be …`), for
 * packages that resolve options once into a frozen object.
 *
 * @example
 * ```ts
 * const { invalid, positiveInt } = optionChecks('webhookSender');
 * const concurrency = positiveInt(options.concurrency, 'concurrency', 16);
 * ```
 */
export function optionChecks(owner?: string): OptionChecks {
  const prefix = owner ? `${owner}: ` : '';
  const invalid = (message: string): never => {
    throw new OutboxError('INVALID_OPTION', `${prefix}${message}`);
  };
  return {
    invalid,
    positiveInt(value, name, fallback, min = 1) {
      if (value === undefined) return fallback;
      if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
        invalid(`${name} must be an integer ≥ ${min}, got ${String(value)}`);
      }
      return value as number;
    },
    optionalString(value, name) {
      if (value === undefined) return undefined;
      if (typeof value !== 'string') invalid(`${name} must be a string, got ${typeof value}`);
      return value as string;
    },
  };
}
