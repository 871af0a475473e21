CREATE SCHEMA "shop";
--> statement-breakpoint
CREATE TABLE "shop"."orders" (
	"id" text PRIMARY KEY NOT NULL,
	"customer" text NOT NULL,
	"total_cents" integer NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "shop"."outbox_messages" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "shop"."outbox_messages_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"topic" text NOT NULL,
	"key" text,
	"payload" "bytea" NOT NULL,
	"content_type" text DEFAULT 'application/json' NOT NULL,
	"headers" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"available_at" timestamp with time zone DEFAULT now() NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"sent_at" timestamp with time zone,
	"last_error" text,
	CONSTRAINT "outbox_messages_status_check" CHECK (status IN ('pending', 'sent', 'dead'))
);
--> statement-breakpoint
CREATE INDEX "outbox_messages_pending_idx" ON "shop"."outbox_messages" USING btree ("available_at","id") WHERE status = 'pending';--> statement-breakpoint
CREATE INDEX "outbox_messages_dead_idx" ON "shop"."outbox_messages" USING btree ("id") WHERE status = 'dead';--> statement-breakpoint
CREATE INDEX "outbox_messages_sent_idx" ON "shop"."outbox_messages" USING btree ("sent_at") WHERE status = 'sent';