import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderPrismaMigrations } from '../scripts/generate-migration.js';
import { migrationsPath, outboxModelPath } from '../src/index.js';
import { createTestDatabase, packageRoot, shippedMigrations, type TestDatabase } from './harness.js';

interface ModelField {
  column: string;
  type: string;
  optional: boolean;
  hasDefault: boolean;
  id: boolean;
  db: string | undefined;
}
interface ModelIndex {
  name: string;
  columns: string[];
  where: string | undefined;
}

/** Just enough of a Prisma schema parser for one model with scalar fields. */
function parseModel(source: string, model: string) {
  const body = new RegExp(`model ${model} \\{([\\s\\S]*?)\\n\\}`).exec(source)?.[1];
  if (body === undefined) throw new Error(`model ${model} not found`);
  const lines = body
    .split('\n')
    .map((l) => l.replace(/\/\/.*$/, '').trim())
    .filter((l) => l.length > 0);
  const fields = new Map<string, ModelField>();
  const indexes: ModelIndex[] = [];
  let table = model;
  for (const line of lines) {
    if (line.startsWith('@@map(')) {
      table = /@@map\("([^"]+)"\)/.exec(line)![1]!;
    } else if (line.startsWith('@@index(')) {
      const m = /@@index\(\[([^\]]*)\], map: "([^"]+)"(?:, where: raw\("(.*)"\))?\)/.exec(line);
      if (!m) throw new Error(`cannot read ${line}`);
      indexes.push({ name: m[2]!, columns: m[1]!.split(',').map((f) => f.trim()), where: m[3] });
    } else if (line.startsWith('@@')) {
      throw new Error(`unexpected model attribute ${line}`);
    } else {
      const m = /^(\w+)\s+(\w+)(\?)?(.*)$/.exec(line);
      if (!m) throw new Error(`cannot read ${line}`);
      const attrs = m[4]!;
      fields.set(m[1]!, {
        column: /@map\("([^"]+)"\)/.exec(attrs)?.[1] ?? m[1]!,
        type: m[2]!,
        optional: m[3] === '?',
        hasDefault: attrs.includes('@default('),
        id: /@id\b/.test(attrs),
        db: /@db\.(\w+)/.exec(attrs)?.[1],
      });
    }
  }
  // Index fields are model field names; the database knows columns.
  for (const index of indexes) index.columns = index.columns.map((f) => fields.get(f)?.column ?? `?${f}`);
  return { table, fields: [...fields.values()], indexes };
}

// How Prisma maps each scalar type (with its @db attribute) to PostgreSQL.
function postgresType(field: ModelField): string {
  if (field.type === 'DateTime') {
    return field.db === 'Timestamptz' ? 'timestamp with time zone' : 'timestamp without time zone';
  }
  const types: Record<string, string> = {
    BigInt: 'bigint',
    String: 'text',
    Bytes: 'bytea',
    Json: 'jsonb',
    Int: 'integer',
    Boolean: 'boolean',
  };
  return types[field.type] ?? `unknown Prisma type ${field.type}`;
}

/** PostgreSQL prints `status = 'pending'` as `(status = 'pending'::text)`. */
function normalisePredicate(sql: string): string {
  return sql
    .replace(/::text/g, '')
    .replace(/^\((.*)\)$/, '$1')
    .trim();
}

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.close();
});

describe('outbox.prisma and migration.sql', () => {
  const model = parseModel(readFileSync(outboxModelPath, 'utf8'), 'OutboxMessage');

  it('the checked-in migration.sql is what @troutbox/core generates now', () => {
    const expected = renderPrismaMigrations();
    const shipped = shippedMigrations();
    expect(shipped.map((m) => m.folder)).toEqual(expected.map((m) => m.folder));
    for (const [i, m] of expected.entries()) {
      expect(
        shipped[i]!.sql,
        `migrations/${m.folder}/migration.sql is stale: run pnpm generate:migration`,
      ).toBe(m.sql);
    }
    expect(migrationsPath.startsWith(join(packageRoot, 'migrations'))).toBe(true);
  });

  it('describe the same columns: names, types, nullability, defaults and primary key', async () => {
    const { rows: columns } = await db.pool.query(
      `SELECT column_name, data_type, is_nullable, column_default, is_identity
       FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`,
      [db.schema, model.table],
    );
    expect(columns.length).toBeGreaterThan(0);
    expect(model.fields.map((f) => f.column).sort()).toEqual(columns.map((c) => c.column_name).sort());
    for (const field of model.fields) {
      const column = columns.find((c) => c.column_name === field.column)!;
      expect({ column: field.column, type: postgresType(field) }).toEqual({
        column: field.column,
        type: column.data_type,
      });
      expect({ column: field.column, nullable: field.optional }).toEqual({
        column: field.column,
        nullable: column.is_nullable === 'YES',
      });
      expect({ column: field.column, default: field.hasDefault }).toEqual({
        column: field.column,
        default: column.column_default !== null || column.is_identity === 'YES',
      });
    }
    const { rows: pk } = await db.pool.query(
      `SELECT a.attname FROM pg_index i
       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
       WHERE i.indrelid = format('%I.%I', $1::text, $2::text)::regclass AND i.indisprimary`,
      [db.schema, model.table],
    );
    expect(pk.map((r) => r.attname)).toEqual(model.fields.filter((f) => f.id).map((f) => f.column));
  });

  it('describe the same indexes, partial predicates included', async () => {
    const { rows } = await db.pool.query(
      `SELECT c.relname AS name, pg_get_expr(i.indpred, i.indrelid) AS predicate,
              array(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY k(attnum, n)
                    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum ORDER BY k.n)::text[] AS columns
       FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
       WHERE i.indrelid = format('%I.%I', $1::text, $2::text)::regclass AND NOT i.indisprimary
       ORDER BY c.relname`,
      [db.schema, model.table],
    );
    expect(rows.length).toBe(3);
    const inDatabase = rows.map((r) => ({
      name: r.name,
      columns: r.columns,
      where: r.predicate === null ? undefined : normalisePredicate(r.predicate),
    }));
    const inModel = [...model.indexes].sort((a, b) => a.name.localeCompare(b.name));
    expect(inModel).toEqual(inDatabase);
  });
});
