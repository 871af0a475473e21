import {
  type Attributes,
  type Context,
  context,
  createTraceState,
  type Link,
  type Meter,
  metrics,
  type Span,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import type { OutboxStats, Outcome } from './dialect/dialect.js';
import { describeError } from './errors.js';
import type { NewMessage, OutboxMessage } from './message.js';
import type { SendResult } from './sender.js';

const SCOPE = '@troutbox/core';
const VERSION = '0.1.0';

// ---------------------------------------------------------------------------------------------
// Producer side: the active trace context travels in the message's W3C headers.

const HEX = /^[0-9a-f]+$/;

/** Format a span context as a W3C `traceparent` header value. */
export function formatTraceparent(spanContext: SpanContext): string {
  const flags = (spanContext.traceFlags & 0xff).toString(16).padStart(2, '0');
  return `00-${spanContext.traceId}-${spanContext.spanId}-${flags}`;
}

/** Parse W3C `traceparent` (and `tracestate`) headers into a remote span context, or undefined. */
export function parseTraceparent(headers: Readonly<Record<string, string>>): SpanContext | undefined {
  const value = headers.traceparent;
  // version 00: "00-" 32 hex "-" 16 hex "-" 2 hex = 55 characters
  if (
    value === undefined ||
    value.length !== 55 ||
    value[2] !== '-' ||
    value[35] !== '-' ||
    value[52] !== '-'
  )
    return undefined;
  if (value[0] !== '0' || value[1] !== '0') return undefined;
  const traceId = value.slice(3, 35);
  const spanId = value.slice(36, 52);
  const flags = value.slice(53, 55);
  if (!HEX.test(traceId) || !HEX.test(spanId) || !HEX.test(flags)) return undefined;
  const spanContext: SpanContext = {
    traceId,
    spanId,
    traceFlags: Number.parseInt(flags, 16) & TraceFlags.SAMPLED,
    isRemote: true,
  };
  if (headers.tracestate) spanContext.traceState = createTraceState(headers.tracestate);
  return trace.isSpanContextValid(spanContext) ? spanContext : undefined;
}

/**
 * Copy the active trace context (`traceparent`, `tracestate`) into each message's headers,
 * unless a message already carries a `traceparent`. Returns the input unchanged when no span is
 * active, so an application without OpenTelemetry pays one lookup per `add`.
 */
export function withTraceContext<T extends NewMessage | readonly NewMessage[]>(
  messages: T,
  ctx: Context = context.active(),
): T {
  const spanContext = trace.getSpanContext(ctx);
  if (!spanContext || !trace.isSpanContextValid(spanContext)) return messages;
  const traceparent = formatTraceparent(spanContext);
  const tracestate = spanContext.traceState?.serialize();
  const enrich = (m: NewMessage): NewMessage => {
    if (typeof m !== 'object' || m === null || (m.headers && typeof m.headers.traceparent === 'string'))
      return m;
    if (m.headers !== undefined && (typeof m.headers !== 'object' || m.headers === null)) return m; // validation reports it
    const headers: Record<string, string> = { ...m.headers, traceparent };
    if (tracestate) headers.tracestate = tracestate;
    return { ...m, headers };
  };
  return (Array.isArray(messages) ? messages.map(enrich) : enrich(messages as NewMessage)) as T;
}

// ---------------------------------------------------------------------------------------------
// Relay side: metrics counted after the commit, spans per batch and per message.

/** Options of {@link relayTelemetry}. */
export interface TelemetryOptions {
  /** @defaultValue `metrics.getMeter('@troutbox/core')` from the global API */
  meter?: Meter;
  /** @defaultValue `trace.getTracer('@troutbox/core')` from the global API */
  tracer?: Tracer;
  /** `db.system` attribute (`postgresql`, `mysql`). @defaultValue from the store */
  dbSystem?: string;
  /** `messaging.system` attribute of send spans (`rabbitmq`, `kafka`…). @defaultValue the sender's name */
  messagingSystem?: string;
  /** One send span per message, linked to its producer's span. @defaultValue true */
  messageSpans?: boolean;
}

/** What the relay reports to telemetry during one batch. */
export interface BatchTelemetry {
  /** Run the sender inside the batch span's context, with a send span per message. */
  send(
    messages: readonly OutboxMessage[],
    fn: () => Promise<readonly SendResult[]>,
  ): Promise<readonly SendResult[]>;
  /** The batch's outcomes are committed: count them. */
  committed(messages: readonly OutboxMessage[], outcomes: readonly Outcome[]): void;
  /** The batch failed before or at its commit: nothing is counted. */
  failed(error: unknown): void;
  /** The claim found nothing. */
  empty(): void;
}

/** Telemetry for a relay; see {@link relayTelemetry}. */
export interface RelayTelemetry {
  startBatch(): BatchTelemetry;
}

// The SDK's default buckets suit milliseconds; these suit seconds, from 1 ms to 5 minutes.
const SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

const NOOP_BATCH: BatchTelemetry = {
  send: (_m, fn) => fn(),
  committed() {},
  failed() {},
  empty() {},
};

/** Telemetry that records nothing. */
export const noTelemetry: RelayTelemetry = { startBatch: () => NOOP_BATCH };

function dbSystemOf(system: string): string {
  return system === 'postgres' ? 'postgresql' : system;
}

/**
 * Metrics and traces of a relay, on the OpenTelemetry API only (bring your own SDK).
 *
 * Counters — `outbox_messages_sent`, `outbox_messages_failed` (every failed attempt),
 * `outbox_messages_retried`, `outbox_messages_dead`, with `topic` and `db.system` — are added
 * only after the commit that records the outcome, so a batch whose commit fails counts
 * nothing. Histograms: `outbox_delivery_latency` (created → sent, seconds) and
 * `outbox_batch_duration` (claim → commit, seconds). Spans: one `outbox relay batch` span per
 * batch, and one `send <topic>` producer span per message linked to the span that added it
 * (through the stored `traceparent`).
 *
 * @example
 * ```ts
 * const relay = createRelay({ store, sender, telemetry: relayTelemetry({ meter, tracer }) });
 * ```
 */
export function relayTelemetry(
  options: TelemetryOptions & { store?: { system: string }; sender?: { name?: string } } = {},
): RelayTelemetry {
  const meter = options.meter ?? metrics.getMeter(SCOPE, VERSION);
  const tracer = options.tracer ?? trace.getTracer(SCOPE, VERSION);
  const dbSystem = options.dbSystem ?? dbSystemOf(options.store?.system ?? 'unknown');
  const messagingSystem = options.messagingSystem ?? options.sender?.name ?? 'unknown';
  const messageSpans = options.messageSpans ?? true;

  const sentCounter = meter.createCounter('outbox_messages_sent', {
    description: 'Messages delivered and recorded as sent',
  });
  const failedCounter = meter.createCounter('outbox_messages_failed', {
    description: 'Failed delivery attempts',
  });
  const retriedCounter = meter.createCounter('outbox_messages_retried', {
    description: 'Failed attempts scheduled for retry',
  });
  const deadCounter = meter.createCounter('outbox_messages_dead', {
    description: 'Messages moved to the dead letters',
  });
  const latency = meter.createHistogram('outbox_delivery_latency', {
    description: 'Time from a message being added to it being sent',
    unit: 's',
    advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
  });
  const batchDuration = meter.createHistogram('outbox_batch_duration', {
    description: 'Time from claim to commit of a relay batch',
    unit: 's',
    advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
  });
  const attrCache = new Map<string, Attributes>();
  const attrs = (topic: string): Attributes => {
    let a = attrCache.get(topic);
    if (!a) {
      a = { topic, 'db.system': dbSystem };
      if (attrCache.size < 10_000) attrCache.set(topic, a);
    }
    return a;
  };

  return {
    startBatch(): BatchTelemetry {
      const started = performance.now();
      const batchSpan = tracer.startSpan('outbox relay batch', {
        kind: SpanKind.INTERNAL,
        attributes: { 'db.system': dbSystem, 'messaging.system': messagingSystem },
      });
      let messageSpanList: Span[] | undefined;
      let ended = false;
      const end = (error?: unknown) => {
        if (ended) return;
        ended = true;
        if (error !== undefined) {
          batchSpan.recordException(error instanceof Error ? error : new Error(describeError(error)));
          batchSpan.setStatus({ code: SpanStatusCode.ERROR, message: describeError(error) });
        }
        batchSpan.end();
      };
      return {
        async send(messages, fn) {
          batchSpan.setAttribute('messaging.batch.message_count', messages.length);
          const ctx = trace.setSpan(context.active(), batchSpan);
          // Message spans only when the batch span records: with no SDK, or a batch not
          // sampled, they would be thrown away, and they cost more than anything else here.
          if (messageSpans && batchSpan.isRecording()) {
            messageSpanList = messages.map((m) => {
              const producer = parseTraceparent(m.headers);
              const links: Link[] = producer ? [{ context: producer }] : [];
              return tracer.startSpan(
                `send ${m.topic}`,
                {
                  kind: SpanKind.PRODUCER,
                  links,
                  attributes: {
                    'messaging.system': messagingSystem,
                    'messaging.operation.type': 'send',
                    'messaging.destination.name': m.topic,
                    'messaging.message.id': m.id,
                    'messaging.batch.message_count': messages.length,
                  },
                },
                ctx,
              );
            });
          }
          let results: readonly SendResult[] | undefined;
          try {
            results = await context.with(ctx, fn);
            return results;
          } finally {
            if (messageSpanList) {
              messageSpanList.forEach((span, i) => {
                const r = results?.[i];
                if (r?.status !== 'sent') {
                  const why = r && 'error' in r ? describeError(r.error) : 'no result';
                  span.setStatus({ code: SpanStatusCode.ERROR, message: why });
                }
                span.end();
              });
            }
          }
        },
        committed(messages, outcomes) {
          const now = Date.now();
          // Group by topic so a batch costs one add() per topic and outcome, not per message.
          const counts = new Map<string, { sent: number; retry: number; dead: number }>();
          outcomes.forEach((o, i) => {
            const m = messages[i]!;
            let c = counts.get(m.topic);
            if (!c) {
              c = { sent: 0, retry: 0, dead: 0 };
              counts.set(m.topic, c);
            }
            c[o.status]++;
            if (o.status === 'sent')
              latency.record(Math.max(0, (now - m.createdAt.getTime()) / 1000), attrs(m.topic));
          });
          for (const [topic, c] of counts) {
            const a = attrs(topic);
            if (c.sent) sentCounter.add(c.sent, a);
            if (c.retry + c.dead) failedCounter.add(c.retry + c.dead, a);
            if (c.retry) retriedCounter.add(c.retry, a);
            if (c.dead) deadCounter.add(c.dead, a);
          }
          batchDuration.record((performance.now() - started) / 1000, { 'db.system': dbSystem });
          end();
        },
        failed(error) {
          end(error);
        },
        empty() {
          // An empty poll is not a batch: drop its span rather than flood traces with them.
          ended = true;
        },
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Backlog gauges: one shared stats query on an interval, however many relays or scrapes.

/** Options of {@link backlogGauges}. */
export interface BacklogGaugeOptions {
  meter?: Meter;
  /** How often the shared stats query runs. @defaultValue 15000 */
  intervalMs?: number;
  /** `db.system` attribute. @defaultValue from the store */
  dbSystem?: string;
}

/**
 * Observable gauges of the backlog — `outbox_backlog_pending`, `outbox_backlog_oldest_age`
 * (seconds) and `outbox_backlog_dead` — fed by one `stats()` query every `intervalMs`; a
 * scrape reads the last result and never queries. Call the returned function to stop.
 */
export function backlogGauges(
  store: { system: string; stats(): Promise<OutboxStats> },
  options: BacklogGaugeOptions = {},
): () => void {
  const meter = options.meter ?? metrics.getMeter(SCOPE, VERSION);
  const dbSystem = options.dbSystem ?? dbSystemOf(store.system);
  const a = { 'db.system': dbSystem };
  let last: OutboxStats | undefined;
  let lastAt = 0;
  const pending = meter.createObservableGauge('outbox_backlog_pending', { description: 'Pending messages' });
  const oldest = meter.createObservableGauge('outbox_backlog_oldest_age', {
    description: 'Age of the oldest pending message',
    unit: 's',
  });
  const deadGauge = meter.createObservableGauge('outbox_backlog_dead', { description: 'Dead messages' });
  const callback = (result: { observe(o: unknown, v: number, a?: Attributes): void }) => {
    if (!last) return;
    result.observe(pending, last.pending, a);
    result.observe(deadGauge, last.dead, a);
    const age = last.oldestPendingAt ? Math.max(0, (lastAt - last.oldestPendingAt.getTime()) / 1000) : 0;
    result.observe(oldest, age, a);
  };
  meter.addBatchObservableCallback(callback as never, [pending, oldest, deadGauge]);
  let stopped = false;
  const refresh = async () => {
    try {
      last = await store.stats();
      lastAt = Date.now();
    } catch {
      // Keep the previous reading; a relay's own error events report database trouble.
    }
  };
  void refresh();
  const timer = setInterval(() => {
    if (!stopped) void refresh();
  }, options.intervalMs ?? 15_000);
  timer.unref?.();
  return () => {
    stopped = true;
    clearInterval(timer);
    meter.removeBatchObservableCallback(callback as never, [pending, oldest, deadGauge]);
  };
}
