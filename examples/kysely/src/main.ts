// A shop whose orders and their messages commit together in Kysely transactions, and a relay
// that delivers them. PostgreSQL, or MySQL / MariaDB when DATABASE_URL starts with mysql://.
//
//   pnpm start
//   DATABASE_URL=mysql://root@127.0.0.1:3306/test pnpm start
import { runShop } from './shop.js';

const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = process.env.SHOP_SCHEMA ?? 'troutbox_kysely_example';

console.log('troutbox + Kysely');
const summary = await runShop({ databaseUrl, schema, log: console.log });
console.log(
  `\n${summary.placed} orders placed, ${summary.refused} refused, ${summary.delivered} messages delivered, ` +
    `${summary.deliveredWithoutOrder} for an order that does not exist`,
);
process.exitCode = summary.deliveredWithoutOrder === 0 ? 0 : 1;
