-- troutbox migration 2 (key_ordering) for `outbox_messages`, generated from
-- @troutbox/core by @troutbox/drizzle's scripts/generate-migrations.ts. Do not edit.
SELECT GET_LOCK('troutbox:migrate:.outbox_messages', 60);
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS `outbox_messages_keys` (
  `key` VARCHAR(255) NOT NULL,
  seq BIGINT NOT NULL,
  PRIMARY KEY (`key`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
--> statement-breakpoint
SET @troutbox_ddl = (SELECT IF(COUNT(*) = 0,
  'ALTER TABLE `outbox_messages` ADD COLUMN seq BIGINT NULL, ADD KEY `outbox_messages_key_seq_idx` (status, `key`, seq, available_at)',
  'DO 0')
FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'outbox_messages' AND COLUMN_NAME = 'seq');
--> statement-breakpoint
PREPARE troutbox_ddl FROM @troutbox_ddl;
--> statement-breakpoint
EXECUTE troutbox_ddl;
--> statement-breakpoint
DEALLOCATE PREPARE troutbox_ddl;
--> statement-breakpoint
SELECT RELEASE_LOCK('troutbox:migrate:.outbox_messages');
