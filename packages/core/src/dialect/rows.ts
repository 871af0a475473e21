import type { ContentType, MessageStatus, OutboxMessage, StoredMessage } from '../message.js';
import type { OutboxStats } from './dialect.js';

// Drivers disagree on types: node-postgres gives bigint as string and bytea as Buffer, PGlite
// gives Uint8Array, mysql2 gives JSON columns as text on MariaDB, Prisma's raw queries give
// Uint8Array and numbers. These functions accept any of them.

const encoder = new TextEncoder();

export function toBytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (typeof value === 'string') return encoder.encode(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (Array.isArray(value)) return Uint8Array.from(value as number[]);
  throw new TypeError(`cannot read a payload of type ${typeof value}`);
}

export function toDate(value: unknown): Date {
  if (value instanceof Date) return value;
  if (typeof value === 'string' || typeof value === 'number') return new Date(value);
  throw new TypeError(`cannot read a timestamp of type ${typeof value}`);
}

export function toDateOrNull(value: unknown): Date | null {
  return value === null || value === undefined ? null : toDate(value);
}

export function toHeaders(value: unknown): Record<string, string> {
  if (value === null || value === undefined) return {};
  if (typeof value === 'string') return JSON.parse(value) as Record<string, string>;
  return value as Record<string, string>;
}

/** A boolean column, as drivers give it: true/false, 1/0 (MySQL), 't'/'f' (text protocols). */
export function toBool(value: unknown): boolean {
  return (
    value === true ||
    value === 't' ||
    value === 'true' ||
    (value !== null && value !== '' && Number(value) === 1)
  );
}

export function toInt(value: unknown): number {
  return typeof value === 'number' ? value : Number(value);
}

export function rowToMessage(row: Record<string, unknown>): OutboxMessage {
  return {
    id: String(row.id),
    topic: row.topic as string,
    key: (row.key as string | null) ?? null,
    payload: toBytes(row.payload),
    contentType: row.content_type as ContentType,
    headers: toHeaders(row.headers),
    createdAt: toDate(row.created_at),
    attempts: toInt(row.attempts),
  };
}

export function rowToStoredMessage(row: Record<string, unknown>): StoredMessage {
  return {
    ...rowToMessage(row),
    status: row.status as MessageStatus,
    availableAt: toDate(row.available_at),
    lastError: (row.last_error as string | null) ?? null,
    sentAt: toDateOrNull(row.sent_at),
  };
}

export function rowToStats(row: Record<string, unknown>): OutboxStats {
  return {
    pending: toInt(row.pending ?? 0),
    due: toInt(row.due ?? 0),
    dead: toInt(row.dead ?? 0),
    sent: toInt(row.sent ?? 0),
    oldestPendingAt: toDateOrNull(row.oldest_pending_at),
  };
}
