import type { StoredMessage } from '@troutbox/core';

/** 12,345 */
export function count(n: number): string {
  return n.toLocaleString('en-US');
}

/** An age in seconds as `45s`, `3m 12s`, `2h 5m`, `4d 3h`. */
export function age(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86_400)}d ${Math.floor((s % 86_400) / 3600)}h`;
}

/** `2025-05-01 12:00:00Z`: UTC, to the second. */
export function time(date: Date | null): string {
  if (!date) return '-';
  return date
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}

function fit(text: string, width: number): string {
  const flat = text.replace(/\s+/g, ' ');
  return flat.length <= width ? flat : `${flat.slice(0, Math.max(0, width - 1))}…`;
}

/** A column of {@link table}. */
export interface Column<Row> {
  readonly header: string;
  readonly value: (row: Row) => string;
  readonly align?: 'left' | 'right';
  /** Longer cells are cut with an ellipsis. */
  readonly maxWidth?: number;
}

/** Rows as an aligned text table with a header line. */
export function table<Row>(rows: readonly Row[], columns: readonly Column<Row>[]): string {
  const cells = rows.map((row) => columns.map((c) => fit(c.value(row), c.maxWidth ?? 60)));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: readonly string[]) =>
    values
      .map((v, i) => (columns[i]!.align === 'right' ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join('\n') + '\n';
}

/** `label   value` lines with the values aligned. */
export function fields(entries: readonly (readonly [string, string])[], indent = ''): string {
  const width = Math.max(...entries.map(([k]) => k.length));
  return entries.map(([k, v]) => `${indent}${k.padEnd(width)}  ${v}`.trimEnd()).join('\n') + '\n';
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/** A payload as JSON when its content type says so and it parses; otherwise as base64. */
export function payloadForJson(
  message: Pick<StoredMessage, 'payload' | 'contentType'>,
): { payloadEncoding: 'json'; payload: unknown } | { payloadEncoding: 'base64'; payload: string } {
  if (message.contentType === 'application/json') {
    try {
      return { payloadEncoding: 'json', payload: JSON.parse(decoder.decode(message.payload)) };
    } catch {
      // Stored by hand or by another writer: show the bytes rather than fail.
    }
  }
  return { payloadEncoding: 'base64', payload: Buffer.from(message.payload).toString('base64') };
}

/** Every field of a stored message, as `--json` prints it. */
export function messageJson(m: StoredMessage) {
  return {
    id: m.id,
    topic: m.topic,
    key: m.key,
    status: m.status,
    attempts: m.attempts,
    contentType: m.contentType,
    headers: m.headers,
    createdAt: m.createdAt.toISOString(),
    availableAt: m.availableAt.toISOString(),
    sentAt: m.sentAt ? m.sentAt.toISOString() : null,
    lastError: m.lastError,
    payloadBytes: m.payload.byteLength,
    ...payloadForJson(m),
  };
}

const HEX_LIMIT = 512;

/** `00000000  7b 22 61 …  |{"a…|`, like `hexdump -C`, up to 512 bytes. */
export function hexDump(bytes: Uint8Array): string {
  const lines: string[] = [];
  const shown = bytes.subarray(0, HEX_LIMIT);
  for (let offset = 0; offset < shown.length; offset += 16) {
    const row = shown.subarray(offset, offset + 16);
    const hex = Array.from(row, (b) => b.toString(16).padStart(2, '0'));
    const left = hex.slice(0, 8).join(' ');
    const right = hex.slice(8).join(' ');
    const ascii = Array.from(row, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${offset.toString(16).padStart(8, '0')}  ${`${left}  ${right}`.padEnd(49)}|${ascii}|`);
  }
  if (bytes.length > HEX_LIMIT)
    lines.push(`… ${count(bytes.length - HEX_LIMIT)} more bytes (--json prints all, as base64)`);
  return lines.join('\n');
}

/** The payload for people: pretty JSON, or a hex dump of bytes. */
export function payloadForPeople(message: Pick<StoredMessage, 'payload' | 'contentType'>): string {
  const p = payloadForJson(message);
  if (p.payloadEncoding === 'json') return JSON.stringify(p.payload, null, 2);
  return hexDump(message.payload);
}

/** Indent every line of `text`. */
export function indent(text: string, by = '  '): string {
  return text
    .split('\n')
    .map((l) => (l ? by + l : l))
    .join('\n');
}
