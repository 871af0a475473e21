import { PGlite } from '@electric-sql/pglite';
import { context, metrics, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  ConsoleSpanExporter,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import {
  backlogGauges,
  createOutbox,
  createRelay,
  pglite,
  postgres,
  retry,
  SqlMessageStore,
  sent,
  type TransactionalExecutor,
} from '@troutbox/core';

export interface TelemetryExampleOptions {
  /** Port of the Prometheus endpoint (`/metrics`). */
  port: number;
  /** Print finished spans on the console. */
  consoleSpans: boolean;
  orders?: number;
  db?: TransactionalExecutor;
}

/**
 * Register the OpenTelemetry SDK globally (metrics served to Prometheus, spans to the console),
 * write orders inside request spans, deliver them with a relay, and return what a Prometheus
 * scrape shows. troutbox itself depends only on `@opentelemetry/api`; the SDK is the app's.
 */
export async function runTelemetryExample(options: TelemetryExampleOptions) {
  const prometheus = new PrometheusExporter({ port: options.port, preventServerStart: false });
  const meterProvider = new MeterProvider({ readers: [prometheus] });
  const spans = new InMemorySpanExporter();
  const exporters: SpanExporter[] = options.consoleSpans ? [new ConsoleSpanExporter(), spans] : [spans];
  const tracerProvider = new BasicTracerProvider({
    spanProcessors: exporters.map((e) => new SimpleSpanProcessor(e)),
  });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  metrics.setGlobalMeterProvider(meterProvider);
  trace.setGlobalTracerProvider(tracerProvider);

  const embedded = options.db ? undefined : await PGlite.create();
  const db = options.db ?? pglite(embedded!);
  const store = new SqlMessageStore({ dialect: postgres({ schema: 'telemetry_example' }), db });
  await store.migrate();
  let flaky = 0;
  // The relay and the gauges use the global meter and tracer registered above.
  const relay = createRelay({
    store,
    sender: {
      name: 'console',
      async send(messages) {
        return messages.map(() => (++flaky % 10 === 0 ? retry(new Error('broker hiccup'), 0) : sent()));
      },
    },
    pollIntervalMs: 50,
  });
  const stopGauges = backlogGauges(store, { intervalMs: 200 });
  const outbox = createOutbox({ dialect: store.dialect });
  const tracer = trace.getTracer('shop');
  await relay.start();
  const orders = options.orders ?? 50;
  for (let id = 1; id <= orders; id++) {
    await tracer.startActiveSpan('POST /orders', async (span) => {
      await db.transaction((tx) => outbox.add(tx, { topic: 'orders', key: String(id), payload: { id } }));
      span.end();
    });
    relay.wake();
  }
  const deadline = Date.now() + 30_000;
  while ((await store.stats()).pending > 0 && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 20));
  await relay.stop();
  await new Promise((r) => setTimeout(r, 250)); // let the gauges' shared query see the drained backlog
  const scrape = await (await fetch(`http://127.0.0.1:${options.port}/metrics`)).text();
  stopGauges();
  const finished = spans.getFinishedSpans();
  await prometheus.shutdown();
  await tracerProvider.shutdown();
  await embedded?.close();
  metrics.disable();
  trace.disable();
  context.disable();
  return { scrape, spans: finished };
}
