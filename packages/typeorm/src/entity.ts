import { type MessageStatus, OutboxError, validateIdentifier } from '@troutbox/core';
import { Check, Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/** Options of {@link outboxMessageEntity}. */
export interface OutboxMessageEntityOptions {
  /** Schema of the outbox table. @defaultValue `'public'` */
  schema?: string;
  /** Name of the outbox table. @defaultValue `'outbox_messages'` */
  table?: string;
  /**
   * Let TypeORM's `synchronize` and `migration:generate` manage the table. Off by default: the
   * table belongs to the shipped migrations ({@link createOutboxMigrations}) or to core's
   * `migrate()`, and TypeORM leaves it alone.
   * @defaultValue `false`
   */
  synchronize?: boolean;
}

/**
 * A row of the outbox table, as TypeORM loads it. Read it, list it, count it; write messages
 * through {@link addMessage} or the {@link OutboxSubscriber}, which validate and encode them.
 */
export interface OutboxMessageRow {
  /** A 64-bit identity, as a decimal string. */
  id: string;
  topic: string;
  key: string | null;
  payload: Buffer;
  contentType: string;
  headers: Record<string, string>;
  status: MessageStatus;
  attempts: number;
  availableAt: Date;
  createdAt: Date;
  sentAt: Date | null;
  lastError: string | null;
}

/** The class {@link outboxMessageEntity} returns. */
export type OutboxMessageEntity = new () => OutboxMessageRow;

/**
 * A TypeORM entity class for an outbox table, column for column and index for index the table
 * that core's migrations create (`bigint` identity, `bytea` payload, `jsonb` headers, the
 * partial indexes of the claim query). Add it to `entities` to query the outbox with TypeORM.
 *
 * Built without decorator syntax, so it needs no `experimentalDecorators` in your tsconfig.
 *
 * @example
 * ```ts
 * const OutboxRow = outboxMessageEntity({ schema: 'app' });
 * const dataSource = new DataSource({ type: 'postgres', url, entities: [Order, OutboxRow] });
 * const dead = await dataSource.getRepository(OutboxRow).findBy({ status: 'dead' });
 * ```
 */
export function outboxMessageEntity(options: OutboxMessageEntityOptions = {}): OutboxMessageEntity {
  if (typeof options !== 'object' || options === null) {
    throw new OutboxError('INVALID_OPTION', 'outboxMessageEntity: options must be an object');
  }
  const schema = validateIdentifier(options.schema ?? 'public', 'schema');
  const table = validateIdentifier(options.table ?? 'outbox_messages', 'table');

  // `declare` keeps the fields off the instances, so TypeORM sees unset columns as unset.
  class OutboxMessage implements OutboxMessageRow {
    declare id: string;
    declare topic: string;
    declare key: string | null;
    declare payload: Buffer;
    declare contentType: string;
    declare headers: Record<string, string>;
    declare status: MessageStatus;
    declare attempts: number;
    declare availableAt: Date;
    declare createdAt: Date;
    declare sentAt: Date | null;
    declare lastError: string | null;
  }
  const p = OutboxMessage.prototype;
  const now = () => 'now()';
  PrimaryGeneratedColumn('identity', {
    type: 'bigint',
    generatedIdentity: 'ALWAYS',
    primaryKeyConstraintName: `${table}_pkey`,
  })(p, 'id');
  Column({ type: 'text' })(p, 'topic');
  Column({ type: 'text', nullable: true })(p, 'key');
  Column({ type: 'bytea' })(p, 'payload');
  Column({ type: 'text', name: 'content_type', default: 'application/json' })(p, 'contentType');
  Column({ type: 'jsonb', default: {} })(p, 'headers');
  Column({ type: 'text', default: 'pending' })(p, 'status');
  Column({ type: 'integer', default: 0 })(p, 'attempts');
  Column({ type: 'timestamptz', name: 'available_at', default: now })(p, 'availableAt');
  Column({ type: 'timestamptz', name: 'created_at', default: now })(p, 'createdAt');
  Column({ type: 'timestamptz', name: 'sent_at', nullable: true })(p, 'sentAt');
  Column({ type: 'text', name: 'last_error', nullable: true })(p, 'lastError');
  Check(`${table}_status_check`, `status IN ('pending', 'sent', 'dead')`)(OutboxMessage);
  Index(`${table}_pending_idx`, ['availableAt', 'id'], { where: `status = 'pending'` })(OutboxMessage);
  Index(`${table}_dead_idx`, ['id'], { where: `status = 'dead'` })(OutboxMessage);
  Index(`${table}_sent_idx`, ['sentAt'], { where: `status = 'sent'` })(OutboxMessage);
  Entity({ schema, name: table, synchronize: options.synchronize ?? false })(OutboxMessage);
  return OutboxMessage;
}

/**
 * The entity of the default outbox table, `public.outbox_messages`. For another schema or
 * table, use {@link outboxMessageEntity}.
 *
 * @example
 * ```ts
 * const dataSource = new DataSource({ type: 'postgres', url, entities: [Order, OutboxMessage] });
 * const pending = await dataSource.getRepository(OutboxMessage).countBy({ status: 'pending' });
 * ```
 */
export const OutboxMessage: OutboxMessageEntity = outboxMessageEntity();
