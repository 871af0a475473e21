import type { System } from '../types.js';
import { graphileWorker } from './graphile-worker.js';
import { pgBoss } from './pg-boss.js';
import { pgTransactionalOutbox } from './pg-transactional-outbox.js';
import { raw } from './raw.js';
import { troutbox } from './troutbox.js';

/** Every system of the comparison; troutbox first, it is the reference of every ratio. */
export const systems: readonly System[] = [troutbox, raw, graphileWorker, pgBoss, pgTransactionalOutbox];

export function systemById(id: string): System {
  const found = systems.find((s) => s.id === id);
  if (!found) throw new Error(`unknown system ${id}; one of ${systems.map((s) => s.id).join(', ')}`);
  return found;
}
