-- troutbox migration 2 (key_ordering) for "public"."outbox_messages", generated from
-- @troutbox/core by @troutbox/drizzle's scripts/generate-migrations.ts. Do not edit.
SELECT pg_advisory_xact_lock(-7495307967675364088);
--> statement-breakpoint
ALTER TABLE "public"."outbox_messages" ADD COLUMN IF NOT EXISTS seq bigint;
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "outbox_messages_key_seq_idx" ON "public"."outbox_messages" (key, seq) WHERE status = 'pending' AND seq > 0;
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "outbox_messages_unkeyed_idx" ON "public"."outbox_messages" (available_at, id) WHERE status = 'pending' AND seq = 0;
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS "public"."outbox_messages_keys" (key text PRIMARY KEY, seq bigint NOT NULL);
