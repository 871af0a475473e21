import { PGlite } from '@electric-sql/pglite';
import { pglite } from '@troutbox/core';
import { expect, it } from 'vitest';
import { runDemo } from '../src/demo.js';

it('the demo keeps every guarantee on PGlite', async () => {
  const db = await PGlite.create();
  try {
    const summary = await runDemo({ db: pglite(db), database: 'PGlite', orders: 400, failureRate: 0.1 });
    expect(summary.ok).toBe(true);
    expect(summary.committedButLost).toBe(0);
    expect(summary.rolledBackButDelivered).toBe(0);
    expect(summary.rolledBack).toBeGreaterThan(0);
    expect(summary.retried).toBeGreaterThan(0);
    // Orders 97, 194, 291 and 388 carry the poison total, unless they rolled back.
    expect(summary.dead).toBeGreaterThan(0);
    expect(summary.delivered).toBe(summary.committed - summary.dead);
  } finally {
    await db.close();
  }
});
