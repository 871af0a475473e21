// What the ORM producer benchmarks share: the row they report, and one row per database even
// when a database fails. Their timing is `interleaved` from ./util.ts.

export interface OrmOptions {
  databaseUrl: string;
  transactions: number;
  runs: number;
}

export interface OrmRow {
  orm: string;
  withOutboxTxPerSec: number;
  withOrmInsertTxPerSec: number;
}

/** One row per target, in order; a target that fails reports a row saying why. */
export async function rowPerTarget<T>(
  targets: readonly T[],
  label: (target: T) => string,
  benchOn: (target: T) => Promise<OrmRow>,
): Promise<OrmRow[]> {
  const rows: OrmRow[] = [];
  for (const target of targets) {
    try {
      rows.push(await benchOn(target));
    } catch (error) {
      // One database being down does not lose the other's row.
      rows.push({
        orm: `${label(target)} (failed: ${(error as Error).message})`,
        withOutboxTxPerSec: Number.NaN,
        withOrmInsertTxPerSec: Number.NaN,
      });
    }
  }
  return rows;
}
