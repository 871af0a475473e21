// Producer cost through @troutbox/typeorm: a one-row business transaction plus one message via
// addMessage (with the OutboxSubscriber registered, as an app would have it), against the same
// transaction plus an equivalent outbox row written with TypeORM's own manager.insert() on an
// entity mapped to a copy of the outbox table. Both on one pooled connection, interleaved, in
// the same run.
import { postgres } from '@troutbox/core';
import { addMessage, outboxMessageEntity, outboxSubscriber, typeormExecutor } from '@troutbox/typeorm';
import { DataSource, EntitySchema } from 'typeorm';
import { median, schemaName } from '../util.js';

interface BenchOrder {
  id: number;
  customer: string;
  total: number;
}

export async function bench(options: {
  databaseUrl: string;
  transactions: number;
  runs: number;
}): Promise<{ orm: string; withOutboxTxPerSec: number; withOrmInsertTxPerSec: number }> {
  const schema = schemaName('typeorm');
  const Order = new EntitySchema<BenchOrder>({
    name: 'BenchOrder',
    tableName: 'orders',
    columns: {
      id: { type: 'bigint', primary: true },
      customer: { type: 'text' },
      total: { type: 'integer' },
    },
  });
  // The same columns, indexes and defaults as the outbox table, on a table of its own.
  const OutboxCopy = outboxMessageEntity({ schema, table: 'outbox_copy' });
  const dataSource = new DataSource({
    type: 'postgres',
    url: options.databaseUrl,
    schema,
    // One connection: both variants run on the same backend, as one application request would.
    poolSize: 1,
    entities: [Order, OutboxCopy],
    subscribers: [outboxSubscriber({ schema })],
  });
  await dataSource.initialize();
  try {
    const queryRunner = dataSource.createQueryRunner();
    await queryRunner.createSchema(schema, true);
    await queryRunner.release();
    await dataSource.synchronize(); // the orders table; the outbox entities are left alone
    await postgres({ schema }).migrate(typeormExecutor(dataSource));
    await postgres({ schema, table: 'outbox_copy' }).migrate(typeormExecutor(dataSource));
    let nextId = 1;

    const variants = {
      addMessage: (id: number) =>
        dataSource.transaction(async (manager) => {
          await manager.insert(Order, { id, customer: 'c-42', total: id % 977 });
          await addMessage(manager, {
            topic: 'orders',
            key: String(id),
            payload: { type: 'OrderPlaced', orderId: id, total: id % 977 },
          });
        }),
      insert: (id: number) =>
        dataSource.transaction(async (manager) => {
          await manager.insert(Order, { id, customer: 'c-42', total: id % 977 });
          await manager.insert(OutboxCopy, {
            topic: 'orders',
            key: String(id),
            payload: Buffer.from(JSON.stringify({ type: 'OrderPlaced', orderId: id, total: id % 977 })),
            contentType: 'application/json',
            headers: {},
          });
        }),
    };
    type Variant = keyof typeof variants;
    const names = Object.keys(variants) as Variant[];
    // Warm up the connection, plans and the JIT.
    for (const name of names) for (let i = 0; i < 300; i++) await variants[name](nextId++);
    const samples: Record<Variant, number[]> = { addMessage: [], insert: [] };
    // Variants take turns every 50 transactions, so a change in the machine's load falls on both.
    const chunk = 50;
    for (let r = 0; r < options.runs; r++) {
      const elapsed: Record<Variant, number> = { addMessage: 0, insert: 0 };
      for (let done = 0; done < options.transactions; done += chunk) {
        const n = Math.min(chunk, options.transactions - done);
        for (const name of names) {
          const started = performance.now();
          for (let i = 0; i < n; i++) await variants[name](nextId++);
          elapsed[name] += performance.now() - started;
        }
      }
      for (const name of names) samples[name].push((options.transactions * 1000) / elapsed[name]);
    }
    return {
      orm: 'typeorm 1.1 (addMessage vs manager.insert)',
      withOutboxTxPerSec: median(samples.addMessage),
      withOrmInsertTxPerSec: median(samples.insert),
    };
  } finally {
    const queryRunner = dataSource.createQueryRunner();
    await queryRunner.dropSchema(schema, true, true);
    await queryRunner.release();
    await dataSource.destroy();
  }
}
