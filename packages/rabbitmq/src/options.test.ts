import { isOutboxError, type OutboxMessage } from '@troutbox/core';
import { describe, expect, it } from 'vitest';
import { type RabbitMqSenderOptions, rabbitmqSender, resolveRabbitMqSenderOptions } from './index.js';

const url = 'amqp://guest:guest@127.0.0.1:5672';

function rejects(options: unknown, pattern: RegExp): void {
  let caught: unknown;
  try {
    rabbitmqSender(options as RabbitMqSenderOptions);
  } catch (error) {
    caught = error;
  }
  expect(isOutboxError(caught, 'INVALID_OPTION')).toBe(true);
  expect((caught as Error).message).toMatch(pattern);
}

describe('rabbitmqSender options', () => {
  it('applies the defaults: default exchange, topic as routing key, mandatory persistent publishes', () => {
    const o = resolveRabbitMqSenderOptions({ url });
    expect(o).toMatchObject({
      mandatory: true,
      persistent: true,
      unroutable: 'dead',
      missingExchange: 'retry',
      keyHeader: 'outbox-key',
      attemptsHeader: 'outbox-attempts',
      topicHeader: 'outbox-topic',
      reconnectDelayMs: 100,
      maxReconnectDelayMs: 30_000,
    });
    expect(o.socketOptions).toMatchObject({
      timeout: 10_000,
      clientProperties: { connection_name: 'troutbox' },
    });
    expect(Object.isFrozen(o)).toBe(true);
    const message = { topic: 'orders.placed' } as OutboxMessage;
    expect(o.route(message)).toEqual({ exchange: '', routingKey: 'orders.placed' });
    expect(resolveRabbitMqSenderOptions({ url, exchange: 'events' }).route(message)).toEqual({
      exchange: 'events',
      routingKey: 'orders.placed',
    });
  });

  it('keeps the caller’s socket options and client properties', () => {
    const o = resolveRabbitMqSenderOptions({
      url,
      connectionName: 'relay-1',
      socketOptions: { keepAlive: true, clientProperties: { team: 'billing' } },
    });
    expect(o.socketOptions).toMatchObject({
      keepAlive: true,
      clientProperties: { connection_name: 'relay-1', team: 'billing' },
    });
  });

  it('rejects bad options with INVALID_OPTION before connecting', () => {
    rejects(undefined, /options must be an object/);
    rejects({}, /url is required/);
    rejects({ url: 'http://localhost' }, /amqp:\/\//);
    rejects({ url, route: 'orders' }, /route must be a function/);
    rejects({ url, exchange: 'x'.repeat(300) }, /exchange must be a string of at most 255 bytes/);
    rejects({ url, unroutable: 'ignore' }, /unroutable must be 'dead' or 'retry'/);
    rejects({ url, missingExchange: 'drop' }, /missingExchange/);
    rejects({ url, mandatory: false, unroutable: 'retry' }, /unroutable needs mandatory/);
    rejects({ url, mandatory: 'yes' }, /mandatory must be a boolean/);
    rejects({ url, reconnectDelayMs: -1 }, /reconnectDelayMs must be an integer/);
    rejects({ url, reconnectDelayMs: 500, maxReconnectDelayMs: 100 }, /maxReconnectDelayMs must be ≥/);
    rejects({ url, connectTimeoutMs: 0 }, /connectTimeoutMs/);
    rejects({ url, keyHeader: '' }, /keyHeader must be a non-empty string/);
    rejects({ url, onError: 1 }, /onError must be a function/);
    rejects({ url, topology: { exchanges: {} } }, /topology.exchanges must be an array/);
    rejects({ url, topology: { exchanges: [{ name: '' }] } }, /must not be empty/);
    rejects({ url, topology: { bindings: [{ queue: 'q' }] } }, /topology.bindings\[0\].exchange/);
  });

  it('accepts null header names to leave a header out', () => {
    const o = resolveRabbitMqSenderOptions({ url, keyHeader: null, attemptsHeader: null, topicHeader: null });
    expect(o).toMatchObject({ keyHeader: null, attemptsHeader: null, topicHeader: null });
  });

  it('does not connect until the first send', () => {
    const sender = rabbitmqSender({ url: 'amqp://guest:guest@127.0.0.1:1' });
    expect(sender.name).toBe('rabbitmq');
    expect(sender.connection).toBeUndefined();
    expect(sender.connections).toBe(0);
  });
});
