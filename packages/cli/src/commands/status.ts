import type { CommandSpec } from '../command.js';
import { age, count, fields, time } from '../format.js';
import { partitionSource } from '../partitions.js';

/** `troutbox status` */
export const statusCommand: CommandSpec = {
  path: ['status'],
  summary: 'backlog, oldest pending age, in flight, dead letters, recent sends, partitions',
  usage: 'status',
  details: `Counts of the outbox table, from the database's point of view:
  pending            messages not yet delivered; "due" can be claimed now, "scheduled" waits for
                     its delivery time or a retry backoff
  oldest pending     age of the oldest undelivered message (by the database clock)
  in flight          pending rows locked right now by a relay's open claim transaction
                     (PostgreSQL: from pg_locks; MySQL 8: performance_schema.data_locks;
                     MariaDB: n/a)
  dead               messages that exhausted their attempts or failed permanently
  sent               delivered in the last minute and hour, and kept in the table`,
  options: {},
  async run(ctx) {
    const c = await ctx.connect({ requireTable: true });
    const stats = await c.store.stats();
    const {
      now,
      counts: [sentLastMinute = 0, sentLastHour = 0],
    } = await c.store.sentCounts([60_000, 3_600_000]);
    const recent = { now, sentLastMinute, sentLastHour };
    const inFlight = await c.admin.inFlight();
    const partitions = await partitionSource(c).list();
    const ageSeconds = stats.oldestPendingAt
      ? Math.max(0, (recent.now.getTime() - stats.oldestPendingAt.getTime()) / 1000)
      : null;
    if (ctx.json) {
      ctx.outJson({
        table: c.dialect.tableName,
        system: c.dialect.name,
        pending: stats.pending,
        due: stats.due,
        scheduled: stats.pending - stats.due,
        oldestPendingAt: stats.oldestPendingAt?.toISOString() ?? null,
        oldestPendingAgeSeconds: ageSeconds === null ? null : Math.round(ageSeconds * 1000) / 1000,
        inFlight: inFlight.count,
        inFlightMethod: inFlight.method,
        dead: stats.dead,
        sent: stats.sent,
        sentLastMinute: recent.sentLastMinute,
        sentLastHour: recent.sentLastHour,
        partitions: { partitioned: partitions.partitioned, count: partitions.partitions.length },
      });
      return 0;
    }
    const partitionText = !partitions.partitioned
      ? 'not partitioned'
      : partitions.partitions.length > 0
        ? `${count(partitions.partitions.length)} partitions`
        : `partitioned (${partitions.note ?? 'no partitions listed'})`;
    ctx.out(`Outbox ${c.dialect.tableName} (${c.dialect.name})\n\n`);
    ctx.out(
      fields(
        [
          ['pending', count(stats.pending)],
          ['  due now', count(stats.due)],
          ['  scheduled', count(stats.pending - stats.due)],
          [
            'oldest pending',
            ageSeconds === null ? '-' : `${age(ageSeconds)} ago (${time(stats.oldestPendingAt)})`,
          ],
          [
            'in flight',
            inFlight.count === null ? 'n/a (no row-lock view on this database)' : count(inFlight.count),
          ],
          ['dead', count(stats.dead)],
          ['sent, last minute', count(recent.sentLastMinute)],
          ['sent, last hour', count(recent.sentLastHour)],
          ['sent, in table', count(stats.sent)],
          ['partitions', partitionText],
        ],
        '  ',
      ),
    );
    return 0;
  },
};
