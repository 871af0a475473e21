import { newPool } from '../util.js';
import { latencyRun } from './runner.js';
import { troutbox } from './systems/troutbox.js';

const admin = newPool(2);
const s = await latencyRun(admin, troutbox, 'defaults', {
  ratePerSec: 200,
  seconds: 3,
  producers: 4,
  settleMs: 10000,
  warmup: 20,
});
console.log(s);
await admin.end();
