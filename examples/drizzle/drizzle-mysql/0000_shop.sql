CREATE TABLE `orders` (
	`id` varchar(36) NOT NULL,
	`customer` varchar(255) NOT NULL,
	`total_cents` int NOT NULL,
	`created_at` datetime(3) NOT NULL,
	CONSTRAINT `orders_id` PRIMARY KEY(`id`)
);
--> statement-breakpoint
CREATE TABLE `outbox_messages` (
	`id` bigint AUTO_INCREMENT NOT NULL,
	`topic` varchar(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
	`key` varchar(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
	`payload` longblob NOT NULL,
	`content_type` varchar(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT 'application/json',
	`headers` longtext CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
	`status` varchar(16) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT 'pending',
	`attempts` int NOT NULL DEFAULT 0,
	`available_at` datetime(6) NOT NULL,
	`created_at` datetime(6) NOT NULL,
	`sent_at` datetime(6),
	`last_error` text CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
	CONSTRAINT `outbox_messages_id` PRIMARY KEY(`id`),
	CONSTRAINT `outbox_messages_status_check` CHECK(status IN ('pending', 'sent', 'dead'))
);
--> statement-breakpoint
CREATE INDEX `outbox_messages_claim_idx` ON `outbox_messages` (`status`,`available_at`,`id`);--> statement-breakpoint
CREATE INDEX `outbox_messages_sent_idx` ON `outbox_messages` (`status`,`sent_at`);