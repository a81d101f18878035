CREATE TABLE "callback_subscriptions" (
	"id" text PRIMARY KEY NOT NULL,
	"callback_url" text NOT NULL,
	"verifier" text NOT NULL,
	"heartbeat_interval_ms" integer NOT NULL,
	"operation" text NOT NULL,
	"caller" text NOT NULL,
	"position" bigint,
	"lease_owner" text,
	"lease_until" timestamp with time zone,
	"created_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "livestreams" ADD COLUMN "history_pruned_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "recordings" ADD COLUMN "history_pruned_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "callback_subscriptions_lease" ON "callback_subscriptions" USING btree ("lease_until");--> statement-breakpoint
CREATE INDEX "livestreams_prunable" ON "livestreams" USING btree ("updated_at") WHERE status in ('STOPPED', 'FAILED') and history_pruned_at is null;--> statement-breakpoint
CREATE INDEX "recordings_prunable" ON "recordings" USING btree ("updated_at") WHERE status in ('COMPLETED', 'FAILED') and history_pruned_at is null;