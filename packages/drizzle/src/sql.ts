import { mysqlDateTime, type Statement } from '@troutbox/core';
import { SQL, type SQLChunk, StringChunk, sql } from 'drizzle-orm';

/** How a dialect writes bind placeholders: `$1` (PostgreSQL) or `?` (MySQL). */
export type PlaceholderStyle = 'dollar' | 'question';

/**
 * A statement split at its placeholders: `text[i]` comes before parameter `index[i]`, and the
 * last text piece has no parameter after it.
 */
interface Template {
  readonly text: readonly string[];
  readonly index: readonly number[];
}

// Core's SQL is a small, fixed set of strings (the insert text is cached per row count up to 64
// rows), so a bounded cache turns the scan into a map lookup on the producer's hot path.
const templates = new Map<string, Template>();
const MAX_TEMPLATES = 256;

function isIdentChar(c: string | undefined): boolean {
  return c !== undefined && /[A-Za-z0-9_$]/.test(c);
}

/**
 * Find the placeholders of `text`, skipping quoted strings, quoted identifiers, comments and
 * dollar-quoted bodies, where a `$1` or `?` is not a placeholder.
 */
export function splitPlaceholders(text: string, style: PlaceholderStyle): Template {
  const pieces: string[] = [];
  const index: number[] = [];
  let start = 0;
  let next = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i]!;
    if (c === "'" || c === '"' || (c === '`' && style === 'question')) {
      // A doubled quote inside is an escaped quote and keeps the literal open.
      i++;
      while (i < n) {
        if (text[i] === c) {
          if (text[i + 1] === c) i += 2;
          else break;
        } else if (text[i] === '\\' && style === 'question') i += 2;
        else i++;
      }
      i++;
    } else if (c === '-' && text[i + 1] === '-') {
      const end = text.indexOf('\n', i);
      i = end === -1 ? n : end + 1;
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      i = end === -1 ? n : end + 2;
    } else if (style === 'dollar' && c === '$' && !isIdentChar(text[i - 1])) {
      const digits = /^\$(\d+)/.exec(text.slice(i, i + 12));
      if (digits) {
        pieces.push(text.slice(start, i));
        index.push(Number(digits[1]) - 1);
        i += digits[0].length;
        start = i;
        continue;
      }
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(text.slice(i, i + 64));
      if (tag) {
        const end = text.indexOf(tag[0], i + tag[0].length);
        i = end === -1 ? n : end + tag[0].length;
      } else i++;
    } else if (style === 'question' && c === '?') {
      pieces.push(text.slice(start, i));
      index.push(next++);
      i++;
      start = i;
    } else i++;
  }
  pieces.push(text.slice(start));
  return { text: pieces, index };
}

function template(text: string, style: PlaceholderStyle): Template {
  const key = style === 'dollar' ? text : `?${text}`;
  let t = templates.get(key);
  if (t === undefined) {
    t = splitPlaceholders(text, style);
    if (templates.size >= MAX_TEMPLATES) templates.clear();
    templates.set(key, t);
  }
  return t;
}

// postgres-js under drizzle serialises timestamps with a pass-through (drizzle's columns send
// strings), so a Date would reach the wire unconverted. An ISO string works in every PostgreSQL
// driver, and core casts or compares it against timestamptz columns. MySQL's DATETIME columns
// hold UTC, which mysql2 would not write for a Date in its default local time zone.
function toParam(value: unknown, style: PlaceholderStyle): unknown {
  if (!(value instanceof Date)) return value;
  return style === 'dollar' ? value.toISOString() : mysqlDateTime(value);
}

/**
 * A drizzle `SQL` object for one of core's statements: the SQL text between placeholders goes
 * in as raw string chunks, and every value as a bound `sql.param`, so no value is ever part of the SQL
 * text. A placeholder used twice binds its value twice.
 *
 * @example
 * ```ts
 * const { sql: text, params } = dialect.claim(100);
 * await tx.execute(toDrizzleSql({ sql: text, params }));
 * ```
 */
export function toDrizzleSql(statement: Statement, style: PlaceholderStyle = 'dollar'): SQL {
  const { text, index } = template(statement.sql, style);
  const { params } = statement;
  const chunks: SQLChunk[] = [];
  for (let i = 0; i < index.length; i++) {
    const at = index[i]!;
    if (at < 0 || at >= params.length) {
      throw new RangeError(`statement has placeholder ${at + 1} but ${params.length} parameters`);
    }
    if (text[i]) chunks.push(new StringChunk(text[i]!));
    chunks.push(sql.param(toParam(params[at], style)));
  }
  const last = text[text.length - 1];
  if (last) chunks.push(new StringChunk(last));
  // One flat SQL object (what `sql.raw` would wrap one by one): drizzle renders it about a
  // third faster, and this is on every producer transaction.
  return new SQL(chunks);
}
