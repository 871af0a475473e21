-- troutbox migration 1 (create_outbox) for "public"."outbox_messages", generated from
-- @troutbox/core by @troutbox/drizzle's scripts/generate-migrations.ts. Do not edit.
SELECT pg_advisory_xact_lock(-7495307967675364088);
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS "public"."outbox_messages" (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  topic text NOT NULL,
  key text,
  payload bytea NOT NULL,
  content_type text NOT NULL DEFAULT 'application/json',
  headers jsonb NOT NULL DEFAULT '{}'::jsonb,
  status text NOT NULL DEFAULT 'pending',
  attempts integer NOT NULL DEFAULT 0,
  available_at timestamptz NOT NULL DEFAULT now(),
  created_at timestamptz NOT NULL DEFAULT now(),
  sent_at timestamptz,
  last_error text,
  CONSTRAINT "outbox_messages_status_check" CHECK (status IN ('pending', 'sent', 'dead'))
);
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "outbox_messages_pending_idx" ON "public"."outbox_messages" (available_at, id) WHERE status = 'pending';
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "outbox_messages_dead_idx" ON "public"."outbox_messages" (id) WHERE status = 'dead';
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "outbox_messages_sent_idx" ON "public"."outbox_messages" (sent_at) WHERE status = 'sent';
