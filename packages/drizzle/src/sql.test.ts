import { MySqlDialect } from 'drizzle-orm/mysql-core';
import { PgDialect } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { splitPlaceholders, toDrizzleSql } from './sql.js';

// What drizzle sends to the driver for a statement: the SQL text and the bound values.
const render = (text: string, params: unknown[]) =>
  new PgDialect().sqlToQuery(toDrizzleSql({ sql: text, params }));

describe('toDrizzleSql', () => {
  it('binds every value as a parameter and keeps the SQL text around them', () => {
    const q = render('INSERT INTO t (a, b) VALUES ($1, $2::jsonb)', ["x'); DROP TABLE t; --", '{}']);
    expect(q.sql).toBe('INSERT INTO t (a, b) VALUES ($1, $2::jsonb)');
    expect(q.params).toEqual(["x'); DROP TABLE t; --", '{}']);
  });

  it('binds a value once per use of its placeholder, in the order drizzle numbers them', () => {
    const q = render('SELECT $2, $1, $2', ['one', 'two']);
    expect(q.sql).toBe('SELECT $1, $2, $3');
    expect(q.params).toEqual(['two', 'one', 'two']);
  });

  it('leaves $n alone inside literals, quoted identifiers, comments and dollar quotes', () => {
    const text = `SELECT '$1' AS "$2", $1 -- $3
/* $4 */ , $$ $5 $$, $tag$ $6 $tag$, a$1, $2`;
    const { index } = splitPlaceholders(text, 'dollar');
    expect(index).toEqual([0, 1]);
    const q = render(text, ['a', 'b']);
    expect(q.params).toEqual(['a', 'b']);
    expect(q.sql).toContain(`'$1' AS "$2"`);
  });

  it('sends dates as ISO text, which every driver passes through to timestamptz', () => {
    const at = new Date('2030-01-02T03:04:05.678Z');
    expect(render('SELECT $1::timestamptz', [at]).params).toEqual(['2030-01-02T03:04:05.678Z']);
  });

  it('splits ? placeholders for MySQL, skipping quoted text, backslash escapes and comments', () => {
    expect(splitPlaceholders("SELECT ?, '?', `?`, ?", 'question')).toEqual({
      text: ['SELECT ', ", '?', `?`, ", ''],
      index: [0, 1],
    });
    expect(splitPlaceholders("SELECT 'it\\'s ?', \"?\", ? -- ?\n/* ? */ ?", 'question').index).toEqual([
      0, 1,
    ]);
  });

  it('renders through drizzle MySQL dialect with ? placeholders, and dates as UTC DATETIME text', () => {
    const at = new Date('2030-01-02T03:04:05.678Z');
    const q = new MySqlDialect().sqlToQuery(
      toDrizzleSql(
        { sql: "INSERT INTO t (a, b, c) VALUES (?, ?, '?')", params: ["x'); --", at] },
        'question',
      ),
    );
    expect(q.sql).toBe("INSERT INTO t (a, b, c) VALUES (?, ?, '?')");
    expect(q.params).toEqual(["x'); --", '2030-01-02 03:04:05.678000']);
  });

  it('refuses a statement whose placeholders outnumber its parameters', () => {
    expect(() => toDrizzleSql({ sql: 'SELECT $1, $2', params: [1] })).toThrow(/placeholder 2/);
  });
});
