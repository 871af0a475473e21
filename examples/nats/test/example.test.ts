import { PGlite } from '@electric-sql/pglite';
import { pglite } from '@troutbox/core';
import { uniqueName } from '@troutbox/core/testing';
import { expect, it } from 'vitest';
import { runNatsExample } from '../src/orders.js';

it('publishes exactly the committed orders to JetStream, with the outbox id as Nats-Msg-Id', async () => {
  const db = await PGlite.create();
  const stream = uniqueName('EX').toUpperCase();
  try {
    const { committed, seen } = await runNatsExample({
      db: pglite(db),
      servers: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
      stream,
      subjectPrefix: `${stream.toLowerCase()}.`,
      schema: 'nats_example',
      orders: 10,
      cleanup: true,
    });
    expect(committed).toEqual([1, 2, 3, 4, 6, 7, 8, 9]);
    expect(seen.map((s) => s.id).sort((a, b) => a - b)).toEqual(committed);
    expect(seen.every((s) => s.subject === `${stream.toLowerCase()}.orders.placed`)).toBe(true);
    expect(new Set(seen.map((s) => s.msgId)).size).toBe(committed.length);
    expect(seen.every((s) => /^\d+$/.test(s.msgId ?? ''))).toBe(true);
  } finally {
    await db.close();
  }
});
