import { runShop } from './shop.js';

const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = process.env.SHOP_SCHEMA ?? 'troutbox_kysely_example';

console.log(`troutbox + Kysely on ${new URL(databaseUrl).host}, schema ${schema}\n`);
const summary = await runShop({ databaseUrl, schema, log: console.log });
console.log(
  `\n${summary.placed} orders placed, ${summary.refused} refused, ${summary.delivered} messages delivered, ` +
    `${summary.deliveredWithoutOrder} for an order that does not exist`,
);
process.exitCode = summary.deliveredWithoutOrder === 0 ? 0 : 1;
