import type { Executor } from '@troutbox/core';
import type { Kind } from './databases.js';

/**
 * What a table is, from the catalog: columns (type, nullability, default, identity or
 * auto-increment, collation), check constraints and indexes, with the namespace (schema or
 * database) taken out so tables in two namespaces compare.
 */
export async function describeTable(db: Executor, kind: Kind, namespace: string, table: string) {
  return kind === 'postgres' ? describePg(db, namespace, table) : describeMysql(db, namespace, table);
}

async function describePg(db: Executor, schema: string, table: string) {
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
    table: [],
  };
}

async function describeMysql(db: Executor, database: string, table: string) {
  const columns = await db.query(
    `SELECT column_name, ordinal_position, column_type, is_nullable, column_default, extra,
            character_set_name, collation_name
     FROM information_schema.columns WHERE table_schema = ? AND table_name = ? ORDER BY column_name`,
    [database, table],
  );
  const constraints = await db.query(
    `SELECT constraint_name, check_clause FROM information_schema.check_constraints
     WHERE constraint_schema = ? AND table_name = ? ORDER BY constraint_name`,
    [database, table],
  );
  const indexes = await db.query(
    `SELECT index_name, seq_in_index, column_name, non_unique FROM information_schema.statistics
     WHERE table_schema = ? AND table_name = ? ORDER BY index_name, seq_in_index`,
    [database, table],
  );
  const options = await db.query(
    'SELECT engine, table_collation FROM information_schema.tables WHERE table_schema = ? AND table_name = ?',
    [database, table],
  );
  return { columns: columns.rows, constraints: constraints.rows, indexes: indexes.rows, table: options.rows };
}
