import type { MigrationSource } from './postgres.js';

// Numbered MySQL / MariaDB migrations; `{{table}}` is the quoted, qualified table name and
// `{{name}}` the bare table name (validated as a plain identifier). MySQL commits DDL
// implicitly, so each statement stands alone and is written to be re-runnable.
//
// Times are UTC: `DATETIME(6)` filled from `UTC_TIMESTAMP(6)`, independent of the session's
// time zone. The claim index leads with status so that pending rows form one range scanned
// in due order.

export const mysqlMigrationSources: readonly MigrationSource[] = [
  {
    version: 1,
    name: 'create_outbox',
    up: [
      `CREATE TABLE IF NOT EXISTS {{table}} (
  id BIGINT NOT NULL AUTO_INCREMENT,
  topic VARCHAR(255) NOT NULL,
  \`key\` VARCHAR(255) NULL,
  payload LONGBLOB NOT NULL,
  content_type VARCHAR(64) NOT NULL DEFAULT 'application/json',
  headers LONGTEXT NOT NULL,
  status VARCHAR(16) NOT NULL DEFAULT 'pending',
  attempts INT NOT NULL DEFAULT 0,
  available_at DATETIME(6) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  sent_at DATETIME(6) NULL,
  last_error TEXT NULL,
  PRIMARY KEY (id),
  KEY \`{{name}}_claim_idx\` (status, available_at, id),
  KEY \`{{name}}_sent_idx\` (status, sent_at),
  CONSTRAINT \`{{name}}_status_check\` CHECK (status IN ('pending', 'sent', 'dead'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
    ],
    down: ['DROP TABLE IF EXISTS {{table}}'],
  },
  {
    // Per-key ordering (`ordering: 'key'`), as on PostgreSQL: `<table>_keys` holds each key's
    // last seq; the producer bumps it (INSERT … ON DUPLICATE KEY UPDATE, whose row lock lasts
    // until its commit) and stores the value in the message's seq. MySQL 8 has no ADD COLUMN IF
    // NOT EXISTS, so the ALTER is chosen from information_schema and run as a prepared
    // statement: re-runnable like the rest, whichever tool applies it after whichever other.
    // `{{database}}` is the database as a string literal (validated), or DATABASE().
    // The key index leads with status so that the ordered claim can walk the pending keys one
    // probe a key (`key > ?` within status = 'pending'), and ends with available_at so that the
    // pending messages without a key (key and seq NULL) form one range in due order.
    version: 2,
    name: 'key_ordering',
    up: [
      `CREATE TABLE IF NOT EXISTS {{keys}} (
  \`key\` VARCHAR(255) NOT NULL,
  seq BIGINT NOT NULL,
  PRIMARY KEY (\`key\`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
      `SET @troutbox_ddl = (SELECT IF(COUNT(*) = 0,
  'ALTER TABLE {{table}} ADD COLUMN seq BIGINT NULL, ADD KEY \`{{name}}_key_seq_idx\` (status, \`key\`, seq, available_at)',
  'DO 0')
FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = {{database}} AND TABLE_NAME = '{{name}}' AND COLUMN_NAME = 'seq')`,
      'PREPARE troutbox_ddl FROM @troutbox_ddl',
      'EXECUTE troutbox_ddl',
      'DEALLOCATE PREPARE troutbox_ddl',
    ],
    down: [
      `SET @troutbox_ddl = (SELECT IF(COUNT(*) > 0,
  'ALTER TABLE {{table}} DROP KEY \`{{name}}_key_seq_idx\`, DROP COLUMN seq',
  'DO 0')
FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = {{database}} AND TABLE_NAME = '{{name}}' AND COLUMN_NAME = 'seq')`,
      'PREPARE troutbox_ddl FROM @troutbox_ddl',
      'EXECUTE troutbox_ddl',
      'DEALLOCATE PREPARE troutbox_ddl',
      'DROP TABLE IF EXISTS {{keys}}',
    ],
  },
];
