-- troutbox migration 1 (create_outbox) for `outbox_messages`, generated from
-- @troutbox/core by @troutbox/drizzle's scripts/generate-migrations.ts. Do not edit.
SELECT GET_LOCK('troutbox:migrate:.outbox_messages', 60);
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS `outbox_messages` (
  id BIGINT NOT NULL AUTO_INCREMENT,
  topic VARCHAR(255) NOT NULL,
  `key` VARCHAR(255) NULL,
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
  KEY `outbox_messages_claim_idx` (status, available_at, id),
  KEY `outbox_messages_sent_idx` (status, sent_at),
  CONSTRAINT `outbox_messages_status_check` CHECK (status IN ('pending', 'sent', 'dead'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
--> statement-breakpoint
SELECT RELEASE_LOCK('troutbox:migrate:.outbox_messages');
