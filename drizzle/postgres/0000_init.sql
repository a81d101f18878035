CREATE TABLE "change_log_pruned" (
	"id" integer PRIMARY KEY DEFAULT 1 NOT NULL,
	"position" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "livestreams" (
	"id" text PRIMARY KEY NOT NULL,
	"provider" text NOT NULL,
	"room_id" text NOT NULL,
	"external_id" text,
	"session_id" text,
	"status" text NOT NULL,
	"vendor_status" text,
	"version" integer NOT NULL,
	"failure_reason" text,
	"idempotency_key" text,
	"idempotency_input" text,
	"next_poll_at" timestamp with time zone,
	"poll_interval_ms" integer,
	"poll_lease_owner" text,
	"poll_lease_until" timestamp with time zone,
	"change_position" bigint DEFAULT 0 NOT NULL,
	"started_at" timestamp with time zone,
	"stopped_at" timestamp with time zone,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	"playback_url" text,
	"ingest_rtmp_url" text,
	"ingest_stream_key" text,
	"ingest_whip_url" text
);
--> statement-breakpoint
CREATE TABLE "recording_assets" (
	"id" text PRIMARY KEY NOT NULL,
	"recording_id" text NOT NULL,
	"external_id" text,
	"type" text NOT NULL,
	"path" text,
	"size" double precision,
	"duration_seconds" double precision,
	"url" text,
	"url_expires_at" timestamp with time zone,
	"created_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "recordings" (
	"id" text PRIMARY KEY NOT NULL,
	"provider" text NOT NULL,
	"room_id" text NOT NULL,
	"external_id" text,
	"session_id" text,
	"status" text NOT NULL,
	"vendor_status" text,
	"version" integer NOT NULL,
	"failure_reason" text,
	"idempotency_key" text,
	"idempotency_input" text,
	"next_poll_at" timestamp with time zone,
	"poll_interval_ms" integer,
	"poll_lease_owner" text,
	"poll_lease_until" timestamp with time zone,
	"change_position" bigint DEFAULT 0 NOT NULL,
	"started_at" timestamp with time zone,
	"stopped_at" timestamp with time zone,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "room_automations" (
	"provider" text NOT NULL,
	"room_id" text NOT NULL,
	"record_on" text NOT NULL,
	"stop_when_empty" boolean NOT NULL,
	"meeting_url" text,
	"updated_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "room_peers" (
	"provider" text NOT NULL,
	"room_id" text NOT NULL,
	"peer_id" text NOT NULL,
	"joined_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "room_sessions" (
	"provider" text NOT NULL,
	"room_id" text NOT NULL,
	"session_id" text NOT NULL,
	"started_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "status_events" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "status_events_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"stream_kind" text NOT NULL,
	"stream_id" text NOT NULL,
	"status" text NOT NULL,
	"vendor_status" text,
	"source" text NOT NULL,
	"version" integer NOT NULL,
	"applied" boolean NOT NULL,
	"event_id" text,
	"payload" text,
	"snapshot" text,
	"at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "webhook_deliveries" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "webhook_deliveries_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"provider" text NOT NULL,
	"delivery_id" text NOT NULL,
	"content_key" text,
	"event_type" text,
	"payload" text NOT NULL,
	"received_at" timestamp with time zone NOT NULL,
	"processed_at" timestamp with time zone,
	"correlation_key" text
);
--> statement-breakpoint
ALTER TABLE "recording_assets" ADD CONSTRAINT "recording_assets_recording_id_recordings_id_fk" FOREIGN KEY ("recording_id") REFERENCES "public"."recordings"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "livestreams_one_active_per_room" ON "livestreams" USING btree ("provider","room_id") WHERE status in ('STARTING', 'LIVE', 'STOPPING');--> statement-breakpoint
CREATE UNIQUE INDEX "livestreams_idempotency_key" ON "livestreams" USING btree ("idempotency_key");--> statement-breakpoint
CREATE INDEX "livestreams_external_id" ON "livestreams" USING btree ("provider","external_id");--> statement-breakpoint
CREATE INDEX "livestreams_room" ON "livestreams" USING btree ("provider","room_id","created_at");--> statement-breakpoint
CREATE INDEX "livestreams_created" ON "livestreams" USING btree ("created_at","id");--> statement-breakpoint
CREATE INDEX "livestreams_status" ON "livestreams" USING btree ("status");--> statement-breakpoint
CREATE INDEX "livestreams_next_poll" ON "livestreams" USING btree ("next_poll_at");--> statement-breakpoint
CREATE INDEX "recording_assets_recording" ON "recording_assets" USING btree ("recording_id");--> statement-breakpoint
CREATE UNIQUE INDEX "recording_assets_external" ON "recording_assets" USING btree ("recording_id","external_id");--> statement-breakpoint
CREATE UNIQUE INDEX "recordings_one_active_per_room" ON "recordings" USING btree ("provider","room_id") WHERE status in ('STARTING', 'RECORDING', 'PAUSED', 'STOPPING');--> statement-breakpoint
CREATE UNIQUE INDEX "recordings_idempotency_key" ON "recordings" USING btree ("idempotency_key");--> statement-breakpoint
CREATE INDEX "recordings_external_id" ON "recordings" USING btree ("provider","external_id");--> statement-breakpoint
CREATE INDEX "recordings_room" ON "recordings" USING btree ("provider","room_id","created_at");--> statement-breakpoint
CREATE INDEX "recordings_created" ON "recordings" USING btree ("created_at","id");--> statement-breakpoint
CREATE INDEX "recordings_status" ON "recordings" USING btree ("status");--> statement-breakpoint
CREATE INDEX "recordings_next_poll" ON "recordings" USING btree ("next_poll_at");--> statement-breakpoint
CREATE UNIQUE INDEX "room_automations_room" ON "room_automations" USING btree ("provider","room_id");--> statement-breakpoint
CREATE UNIQUE INDEX "room_peers_peer" ON "room_peers" USING btree ("provider","room_id","peer_id");--> statement-breakpoint
CREATE UNIQUE INDEX "room_sessions_room" ON "room_sessions" USING btree ("provider","room_id");--> statement-breakpoint
CREATE UNIQUE INDEX "status_events_event_id" ON "status_events" USING btree ("stream_kind","stream_id","event_id");--> statement-breakpoint
CREATE UNIQUE INDEX "webhook_deliveries_provider_delivery" ON "webhook_deliveries" USING btree ("provider","delivery_id");--> statement-breakpoint
CREATE UNIQUE INDEX "webhook_deliveries_provider_content" ON "webhook_deliveries" USING btree ("provider","content_key");--> statement-breakpoint
CREATE INDEX "webhook_deliveries_pending" ON "webhook_deliveries" USING btree ("provider","received_at") WHERE "webhook_deliveries"."processed_at" is null;--> statement-breakpoint
CREATE INDEX "webhook_deliveries_pending_key" ON "webhook_deliveries" USING btree ("provider","correlation_key") WHERE "webhook_deliveries"."processed_at" is null;