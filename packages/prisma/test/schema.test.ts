import { readFileSync } from 'node:fs';
import { join, sep } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATION_DIRS, renderPrismaMigrations } from '../scripts/generate-migration.js';
import { migrationsPaths, outboxModelPaths } from '../src/index.js';
import { databases, type ModelField, type Peek, packageRoot, shippedMigrations } from './databases.js';

interface ModelIndex {
  name: string;
  columns: string[];
  where: string | undefined;
}

/** The `@db.Name(args)` attribute of a field. */
function dbType(attrs: string): ModelField['db'] {
  const m = /@db\.(\w+)(?:\(([^)]*)\))?/.exec(attrs);
  return m ? { name: m[1]!, args: m[2] } : undefined;
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
        db: dbType(attrs),
      });
    }
  }
  // Index fields are model field names; the database knows columns.
  for (const index of indexes) index.columns = index.columns.map((f) => fields.get(f)?.column ?? `?${f}`);
  return { table, fields: [...fields.values()], indexes };
}

describe.each(databases)('$label', (database) => {
  let peek: Peek;
  let isolated: string;
  beforeAll(async () => {
    isolated = await database.createIsolated('pschema');
    await database.applyMigration(isolated);
    peek = database.peek();
  });
  afterAll(async () => {
    await peek?.end();
    if (isolated !== undefined) await database.dropIsolated(isolated);
  });

  const modelPath = outboxModelPaths[database.name];
  const model = parseModel(readFileSync(modelPath, 'utf8'), 'OutboxMessage');

  it('the checked-in migration.sql is what @troutbox/core generates now', () => {
    const expected = renderPrismaMigrations(database.name);
    const shipped = shippedMigrations(database.name);
    const dir = MIGRATION_DIRS[database.name];
    expect(shipped.map((m) => m.folder)).toEqual(expected.map((m) => m.folder));
    for (const [i, m] of expected.entries()) {
      expect(shipped[i]!.sql, `${dir}/${m.folder}/migration.sql is stale: run pnpm generate:migration`).toBe(
        m.sql,
      );
    }
    expect(migrationsPaths[database.name]).toBe(join(packageRoot, dir) + sep);
    expect(modelPath.startsWith(join(packageRoot, 'prisma'))).toBe(true);
  });

  it('the model and the migration describe the same columns: names, types, nullability, defaults and primary key', async () => {
    const table = await database.describeTable(peek, isolated, model.table);
    expect(table.columns.length).toBeGreaterThan(0);
    expect(model.fields.map((f) => f.column).sort()).toEqual(table.columns.map((c) => c.column).sort());
    for (const field of model.fields) {
      const column = table.columns.find((c) => c.column === field.column)!;
      // One expectation per property, each naming its column, so a failure says what differs.
      expect({ column: field.column, type: database.columnType(field) }).toEqual({
        column: field.column,
        type: column.type,
      });
      expect({ column: field.column, nullable: field.optional }).toEqual({
        column: field.column,
        nullable: column.nullable,
      });
      expect({ column: field.column, default: field.hasDefault }).toEqual({
        column: field.column,
        default: column.hasDefault,
      });
    }
    expect(table.primaryKey).toEqual(model.fields.filter((f) => f.id).map((f) => f.column));
  });

  it('the model and the migration describe the same indexes (partial predicates included)', async () => {
    const table = await database.describeTable(peek, isolated, model.table);
    expect(table.indexes.length).toBeGreaterThan(0);
    const inDatabase = [...table.indexes].sort((a, b) => a.name.localeCompare(b.name));
    const inModel = [...model.indexes].sort((a, b) => a.name.localeCompare(b.name));
    expect(inModel).toEqual(inDatabase);
  });
});
