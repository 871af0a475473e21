import { afterEach, describe, expect, it } from 'vitest';
import { createTestOutbox, databases, type TestOutbox } from './helpers.js';

// A burst of inserts the statistics know nothing of yet (a fresh table, or many rows since the
// last ANALYZE) must not turn the claim into "read every due row and sort them": it walks the
// pending index in due order and stops at the batch.

let db: TestOutbox | undefined;
afterEach(async () => {
  await db?.close();
  db = undefined;
});

const ROWS = 300_000;

// Digits 0-9, cross-joined: a row source MySQL 8 and MariaDB both have.
const DIGITS =
  '(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)';

describe.each(databases)('the claim on $ROWS freshly inserted rows on $label', (database) => {
  it.each(['none', 'key'] as const)(
    'walks the pending index in order, without sorting the backlog (ordering %s)',
    async (ordering) => {
      db = await createTestOutbox(database, { prefix: 'plan', dialect: { ordering } });
      const t = db.dialect.tableName;
      if (database.name === 'postgres') {
        await db.sql(
          `INSERT INTO ${t} (topic, key, payload, seq) SELECT 't', 'k' || (g % 1000), '\\x00'::bytea, CASE WHEN ? THEN g / 1000 + 1 END FROM generate_series(1, ?) AS g`,
          [ordering === 'key', ROWS],
        );
        const plan = await db.pool.db.transaction(async (tx) => {
          if (db!.dialect.claimSetup)
            await tx.query(db!.dialect.claimSetup.sql, db!.dialect.claimSetup.params);
          const { sql, params } = db!.dialect.claim(500);
          const { rows } = await tx.query<{ 'QUERY PLAN': string }>(
            `EXPLAIN (ANALYZE, COSTS OFF) ${sql}`,
            params,
          );
          return rows.map((r) => r['QUERY PLAN']).join('\n');
        });
        expect(plan).not.toMatch(/Bitmap Heap Scan|Seq Scan/);
        expect(plan).not.toMatch(/external merge|Disk:/);
        expect(plan).not.toMatch(/JIT/);
        if (ordering === 'none') {
          expect(plan).toMatch(/Index Scan using outbox_messages_pending_idx/);
          // The scan stopped at the batch instead of reading the backlog.
          const scanned =
            /Index Scan using outbox_messages_pending_idx.*\(actual time=[\d.]+\.\.[\d.]+ rows=(\d+)/.exec(
              plan,
            );
          expect(Number(scanned?.[1]), plan).toBeLessThanOrEqual(1000);
        } else {
          // The walk goes key to key through the key index, and no scan of any index reads
          // more than about a batch, however deep the backlog.
          expect(plan).toMatch(/Index Scan using outbox_messages_key_seq_idx/);
          const scans = [
            ...plan.matchAll(
              /Index (?:Only )?Scan using (\S+).*\(actual time=[\d.]+\.\.[\d.]+ rows=(\d+) loops=(\d+)\)/g,
            ),
          ];
          expect(scans.length, plan).toBeGreaterThan(0);
          for (const [, index, rows, loops] of scans)
            expect(Number(rows) * Number(loops), `${index} in\n${plan}`).toBeLessThanOrEqual(1000);
        }
      } else {
        await db.sql(
          `INSERT INTO ${t} (topic, \`key\`, payload, content_type, headers, available_at, created_at, seq)
SELECT 't', CONCAT('k', g % 1000), X'00', 'application/octet-stream', '{}', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), IF(?, FLOOR(g / 1000) + 1, NULL)
FROM (SELECT 1 + a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d + 100000 * h.d AS g
  FROM ${DIGITS} a, ${DIGITS} b, ${DIGITS} c, ${DIGITS} e, ${DIGITS} f, ${DIGITS} h) AS s WHERE g <= ?`,
          [ordering === 'key', ROWS],
        );
        const { sql, params } = db.dialect.claim(500);
        const rows = await db.sql<{ key: string | null; Extra: string | null; table: string }>(
          `EXPLAIN ${sql}`,
          params,
        );
        if (ordering === 'none') {
          const outer = rows.find((r) => r.table === 'o')!;
          expect(outer.key, JSON.stringify(rows)).toBe(database.claimIndex);
          expect(outer.Extra ?? '', JSON.stringify(rows)).not.toMatch(/filesort/);
        } else {
          // The walk (z) and the messages without a key (o) read the key index in its order.
          const tables = rows.filter((r) => r.table === 'z' || r.table === 'o');
          expect(tables.map((r) => r.table).sort(), JSON.stringify(rows)).toEqual(['o', 'z']);
          for (const r of tables) {
            expect(r.key, JSON.stringify(rows)).toBe('outbox_messages_key_seq_idx');
            expect(r.Extra ?? '', JSON.stringify(rows)).not.toMatch(/filesort/);
          }
        }
      }
      // And the claim itself answers a full batch.
      const claimed = await db.store.transaction((tx) => db!.store.claim(tx, 500));
      expect(claimed).toHaveLength(500);
    },
    120_000,
  );
});
