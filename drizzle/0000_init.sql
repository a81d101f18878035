CREATE TABLE `livestreams` (
	`id` text PRIMARY KEY NOT NULL,
	`provider` text NOT NULL,
	`room_id` text NOT NULL,
	`external_id` text,
	`session_id` text,
	`status` text NOT NULL,
	`vendor_status` text,
	`version` integer NOT NULL,
	`failure_reason` text,
	`idempotency_key` text,
	`options` text,
	`started_at` integer,
	`stopped_at` integer,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`playback_url` text,
	`ingest_rtmp_url` text,
	`ingest_stream_key` text,
	`ingest_whip_url` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `livestreams_one_active_per_room` ON `livestreams` (`provider`,`room_id`) WHERE status in ('STARTING', 'LIVE', 'STOPPING');--> statement-breakpoint
CREATE UNIQUE INDEX `livestreams_idempotency_key` ON `livestreams` (`idempotency_key`);--> statement-breakpoint
CREATE INDEX `livestreams_external_id` ON `livestreams` (`provider`,`external_id`);--> statement-breakpoint
CREATE INDEX `livestreams_room` ON `livestreams` (`provider`,`room_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `livestreams_created` ON `livestreams` (`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `livestreams_status` ON `livestreams` (`status`);--> statement-breakpoint
CREATE TABLE `recording_assets` (
	`id` text PRIMARY KEY NOT NULL,
	`recording_id` text NOT NULL,
	`external_id` text,
	`type` text NOT NULL,
	`path` text,
	`size` real,
	`duration_seconds` real,
	`url` text,
	`url_expires_at` integer,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`recording_id`) REFERENCES `recordings`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `recording_assets_recording` ON `recording_assets` (`recording_id`);--> statement-breakpoint
CREATE UNIQUE INDEX `recording_assets_external` ON `recording_assets` (`recording_id`,`external_id`);--> statement-breakpoint
CREATE TABLE `recordings` (
	`id` text PRIMARY KEY NOT NULL,
	`provider` text NOT NULL,
	`room_id` text NOT NULL,
	`external_id` text,
	`session_id` text,
	`status` text NOT NULL,
	`vendor_status` text,
	`version` integer NOT NULL,
	`failure_reason` text,
	`idempotency_key` text,
	`options` text,
	`started_at` integer,
	`stopped_at` integer,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `recordings_one_active_per_room` ON `recordings` (`provider`,`room_id`) WHERE status in ('STARTING', 'RECORDING', 'PAUSED', 'STOPPING');--> statement-breakpoint
CREATE UNIQUE INDEX `recordings_idempotency_key` ON `recordings` (`idempotency_key`);--> statement-breakpoint
CREATE INDEX `recordings_external_id` ON `recordings` (`provider`,`external_id`);--> statement-breakpoint
CREATE INDEX `recordings_room` ON `recordings` (`provider`,`room_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `recordings_created` ON `recordings` (`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `recordings_status` ON `recordings` (`status`);--> statement-breakpoint
CREATE TABLE `room_automations` (
	`provider` text NOT NULL,
	`room_id` text NOT NULL,
	`record_on` text NOT NULL,
	`stop_when_empty` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `room_automations_room` ON `room_automations` (`provider`,`room_id`);--> statement-breakpoint
CREATE TABLE `status_events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`stream_kind` text NOT NULL,
	`stream_id` text NOT NULL,
	`status` text NOT NULL,
	`vendor_status` text,
	`source` text NOT NULL,
	`version` integer NOT NULL,
	`applied` integer NOT NULL,
	`event_id` text,
	`payload` text,
	`at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `status_events_stream` ON `status_events` (`stream_kind`,`stream_id`,`id`);--> statement-breakpoint
CREATE UNIQUE INDEX `status_events_event_id` ON `status_events` (`stream_kind`,`stream_id`,`event_id`);--> statement-breakpoint
CREATE TABLE `webhook_deliveries` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`provider` text NOT NULL,
	`delivery_id` text NOT NULL,
	`event_type` text,
	`payload` text NOT NULL,
	`received_at` integer NOT NULL,
	`processed_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `webhook_deliveries_provider_delivery` ON `webhook_deliveries` (`provider`,`delivery_id`);