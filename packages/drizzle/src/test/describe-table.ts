import type { Executor } from '@troutbox/core';

/**
 * What a table is, from the catalog: columns (type, nullability, default, identity), check
 * constraints and indexes, with the schema name taken out so tables in two schemas compare.
 */
export async function describeTable(db: Executor, schema: string, table: string) {
  const columns = await db.query(
    `SELECT column_name, data_type, is_nullable, column_default, is_identity, identity_generation,
            identity_increment, identity_minimum, identity_start
     FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY column_name`,
    [schema, table],
  );
  const constraints = await db.query<{ conname: string; def: string }>(
    `SELECT conname, pg_get_constraintdef(c.oid) AS def FROM pg_constraint c
     JOIN pg_class t ON t.oid = c.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace
     WHERE n.nspname = $1 AND t.relname = $2 ORDER BY conname`,
    [schema, table],
  );
  const indexes = await db.query<{ indexname: string; indexdef: string }>(
    'SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = $2 ORDER BY indexname',
    [schema, table],
  );
  const unqualify = (def: string) =>
    def.replaceAll(`${schema}.`, '<schema>.').replaceAll(`"${schema}".`, '<schema>.');
  return {
    columns: columns.rows,
    constraints: constraints.rows.map((c) => ({ ...c, def: unqualify(c.def) })),
    indexes: indexes.rows.map((i) => ({ ...i, indexdef: unqualify(i.indexdef) })),
  };
}
