import { expect, it } from 'vitest';
import { runTelemetryExample } from '../src/example.js';

it('serves exact troutbox counters and backlog gauges to Prometheus, and links send spans to requests', async () => {
  const port = 20000 + (process.pid % 20000);
  const { scrape, spans } = await runTelemetryExample({ port, consoleSpans: false, orders: 30 });
  const value = (name: string) => {
    const line = scrape.split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
    return line ? Number(line.trim().split(' ').at(-1)) : undefined;
  };
  expect(value('outbox_messages_sent_total')).toBe(30);
  // Every 10th send attempt failed once and was retried.
  expect(value('outbox_messages_retried_total')).toBe(value('outbox_messages_failed_total'));
  expect(value('outbox_messages_retried_total')).toBeGreaterThan(0);
  expect(value('outbox_backlog_pending')).toBe(0);
  expect(scrape).toContain('outbox_delivery_latency_count');
  expect(scrape).toMatch(/outbox_delivery_latency_bucket\{[^}]*le="0.001"/);
  const requests = spans.filter((s) => s.name === 'POST /orders');
  const sends = spans.filter((s) => s.name === 'send orders');
  expect(requests).toHaveLength(30);
  expect(sends.length).toBeGreaterThanOrEqual(30);
  const requestIds = new Set(requests.map((s) => s.spanContext().spanId));
  for (const send of sends) expect(requestIds.has(send.links[0]!.context.spanId)).toBe(true);
});
