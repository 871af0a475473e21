import { type MessageStatus, validateIdentifier } from '@troutbox/core';
import { Check, Column, Entity, Index, PrimaryGeneratedColumn, type ValueTransformer } from 'typeorm';
import { checkOptions, dialectFor } from './options.js';

// `dialect` is not among them: the entity's columns come from `type`, never from a dialect object.
const ENTITY_OPTIONS = ['type', 'schema', 'database', 'table', 'synchronize'];

/** Options of {@link outboxMessageEntity}. */
export interface OutboxMessageEntityOptions {
  /**
   * The database the entity is for, as TypeORM's data source `type` (`'postgres'`, `'mysql'`,
   * `'mariadb'`, …): column types differ between databases.
   * @defaultValue `'postgres'`
   */
  type?: string;
  /** PostgreSQL: schema of the outbox table. @defaultValue `'public'` */
  schema?: string;
  /** MySQL / MariaDB: database of the outbox table. @defaultValue the data source's database */
  database?: string;
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
  /** Place in its key's commit order (`ordering: 'key'`), as a decimal string; null otherwise. */
  seq: string | null;
}

/** The class {@link outboxMessageEntity} returns. */
export type OutboxMessageEntity = new () => OutboxMessageRow;

/**
 * A TypeORM entity class for an outbox table, column for column and index for index the table
 * that core's migrations create. PostgreSQL: `bigint` identity, `bytea` payload, `jsonb`
 * headers, the partial indexes of the claim query. MySQL / MariaDB (`type: 'mysql'` or
 * `'mariadb'`): `BIGINT AUTO_INCREMENT`, `VARCHAR(255)` topic and key, `LONGBLOB` payload,
 * `LONGTEXT` headers (JSON, parsed on load), UTC `DATETIME(6)` times, the claim and sent
 * indexes. Add it to `entities` to query the outbox with TypeORM.
 *
 * Built without decorator syntax, so it needs no `experimentalDecorators` in your tsconfig.
 *
 * @example
 * ```ts
 * const OutboxRow = outboxMessageEntity({ schema: 'app' });
 * const dataSource = new DataSource({ type: 'postgres', url, entities: [Order, OutboxRow] });
 * const dead = await dataSource.getRepository(OutboxRow).findBy({ status: 'dead' });
 *
 * // MySQL: times are stored in UTC, so read them with timezone 'Z'
 * const MysqlOutboxRow = outboxMessageEntity({ type: 'mysql', database: 'app' });
 * new DataSource({ type: 'mysql', url, timezone: 'Z', entities: [Order, MysqlOutboxRow] });
 * ```
 */
export function outboxMessageEntity(options: OutboxMessageEntityOptions = {}): OutboxMessageEntity {
  checkOptions(options, 'outboxMessageEntity', ENTITY_OPTIONS);
  const table = validateIdentifier(options.table ?? 'outbox_messages', 'table');
  // dialectFor also rejects a `schema` on MySQL and a `database` on PostgreSQL.
  const dialect = dialectFor(options.type ?? 'postgres', {
    schema: options.schema,
    database: options.database,
    table,
  });

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
    declare seq: string | null;
  }
  if (dialect.name === 'mysql') {
    mysqlColumns(OutboxMessage, table);
    Entity({ database: options.database, name: table, synchronize: options.synchronize ?? false })(
      OutboxMessage,
    );
  } else {
    postgresColumns(OutboxMessage, table);
    const schema = validateIdentifier(options.schema ?? 'public', 'schema');
    Entity({ schema, name: table, synchronize: options.synchronize ?? false })(OutboxMessage);
  }
  return OutboxMessage;
}

// Core's PostgreSQL DDL: packages/core/src/migrations/postgres.ts.
function postgresColumns(target: new () => OutboxMessageRow, table: string): void {
  const p = target.prototype;
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
  Column({ type: 'bigint', nullable: true })(p, 'seq');
  Check(`${table}_status_check`, `status IN ('pending', 'sent', 'dead')`)(target);
  Index(`${table}_pending_idx`, ['availableAt', 'id'], { where: `status = 'pending'` })(target);
  Index(`${table}_dead_idx`, ['id'], { where: `status = 'dead'` })(target);
  Index(`${table}_sent_idx`, ['sentAt'], { where: `status = 'sent'` })(target);
  Index(`${table}_key_seq_idx`, ['key', 'seq'], { where: `status = 'pending' AND seq > 0` })(target);
  Index(`${table}_unkeyed_idx`, ['availableAt', 'id'], { where: `status = 'pending' AND seq = 0` })(target);
}

// Headers are a JSON object in a LONGTEXT column (core writes them with JSON.stringify).
const jsonText: ValueTransformer = {
  to: (value: unknown) => (value === undefined ? undefined : JSON.stringify(value)),
  from: (value: unknown) => (typeof value === 'string' ? JSON.parse(value) : value),
};

// Core's MySQL DDL: packages/core/src/migrations/mysql.ts. `available_at` and `created_at` have
// no default there (core writes UTC_TIMESTAMP(6)); TypeORM leaves MySQL CHECK constraints out
// of its schema builder, so the status check is declared for documentation only.
function mysqlColumns(target: new () => OutboxMessageRow, table: string): void {
  const p = target.prototype;
  PrimaryGeneratedColumn('increment', { type: 'bigint' })(p, 'id');
  Column({ type: 'varchar', length: 255 })(p, 'topic');
  Column({ type: 'varchar', length: 255, nullable: true })(p, 'key');
  Column({ type: 'longblob' })(p, 'payload');
  Column({ type: 'varchar', length: 64, name: 'content_type', default: 'application/json' })(
    p,
    'contentType',
  );
  Column({ type: 'longtext', transformer: jsonText })(p, 'headers');
  Column({ type: 'varchar', length: 16, default: 'pending' })(p, 'status');
  Column({ type: 'int', default: 0 })(p, 'attempts');
  Column({ type: 'datetime', precision: 6, name: 'available_at' })(p, 'availableAt');
  Column({ type: 'datetime', precision: 6, name: 'created_at' })(p, 'createdAt');
  Column({ type: 'datetime', precision: 6, name: 'sent_at', nullable: true })(p, 'sentAt');
  Column({ type: 'text', name: 'last_error', nullable: true })(p, 'lastError');
  Column({ type: 'bigint', nullable: true })(p, 'seq');
  Check(`${table}_status_check`, `status IN ('pending', 'sent', 'dead')`)(target);
  Index(`${table}_claim_idx`, ['status', 'availableAt', 'id'])(target);
  Index(`${table}_sent_idx`, ['status', 'sentAt'])(target);
  Index(`${table}_key_seq_idx`, ['status', 'key', 'seq', 'availableAt'])(target);
}

/**
 * The entity of the default PostgreSQL outbox table, `public.outbox_messages`. For another
 * schema or table, or for MySQL (`outboxMessageEntity({ type: 'mysql' })`), use
 * {@link outboxMessageEntity}.
 *
 * @example
 * ```ts
 * const dataSource = new DataSource({ type: 'postgres', url, entities: [Order, OutboxMessage] });
 * const pending = await dataSource.getRepository(OutboxMessage).countBy({ status: 'pending' });
 * ```
 */
export const OutboxMessage: OutboxMessageEntity = outboxMessageEntity();
