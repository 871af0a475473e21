import { type OutboxMessage, payloadText, type Sender, sent } from '@troutbox/core';
import { rabbitmqSender } from '@troutbox/rabbitmq';

/** The exchange and queue the examples publish to when `AMQP_URL` is set. */
export const EXAMPLE_EXCHANGE = 'troutbox.examples';
export const EXAMPLE_QUEUE = 'troutbox.examples';

/** A sender that prints each message; it keeps what it printed for the examples' summaries. */
export function consoleSender(
  log: (line: string) => void = console.log,
): Sender & { delivered: OutboxMessage[] } {
  const delivered: OutboxMessage[] = [];
  return {
    name: 'console',
    delivered,
    async send(messages) {
      for (const m of messages) log(`  → ${m.topic} key=${m.key ?? '-'} ${payloadText(m)}`);
      delivered.push(...messages);
      return messages.map(() => sent());
    },
  };
}

/**
 * Where the examples deliver: to RabbitMQ when `AMQP_URL` is set (a topic exchange
 * `troutbox.examples` with a durable queue of the same name bound to every routing key, so no
 * message is unroutable; `AMQP_EXCHANGE` and `AMQP_QUEUE` rename them), otherwise to the console.
 *
 * @example
 * ```sh
 * AMQP_URL=amqp://guest:guest@127.0.0.1:5672 pnpm --filter @troutbox/example-kysely start
 * rabbitmqadmin get queue=troutbox.examples count=10
 * ```
 */
export function exampleSender(
  options: {
    env?: Record<string, string | undefined>;
    log?: (line: string) => void;
    /** Exchange and queue names (tests use their own). */
    exchange?: string;
    queue?: string;
  } = {},
): { sender: Sender; describe: string } {
  const env = options.env ?? process.env;
  const url = env.AMQP_URL;
  if (!url) return { sender: consoleSender(options.log), describe: 'the console' };
  const exchange = options.exchange ?? env.AMQP_EXCHANGE ?? EXAMPLE_EXCHANGE;
  const queue = options.queue ?? env.AMQP_QUEUE ?? EXAMPLE_QUEUE;
  const sender = rabbitmqSender({
    url,
    exchange,
    topology: {
      exchanges: [{ name: exchange, type: 'topic' }],
      queues: [{ name: queue }],
      bindings: [{ queue, exchange, routingKey: '#' }],
    },
  });
  return { sender, describe: `RabbitMQ exchange ${exchange} (queue ${queue})` };
}
