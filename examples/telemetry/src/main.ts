import { runTelemetryExample } from './example.js';

const port = Number(process.env.PROMETHEUS_PORT ?? 9464);
const { scrape, spans } = await runTelemetryExample({
  port,
  consoleSpans: process.env.CONSOLE_SPANS === '1',
});
console.log(
  `${spans.length} spans finished (CONSOLE_SPANS=1 prints them). The troutbox series at http://127.0.0.1:${port}/metrics:\n`,
);
console.log(
  scrape
    .split('\n')
    .filter((line) => line.includes('outbox_') && !line.startsWith('#'))
    .join('\n'),
);
