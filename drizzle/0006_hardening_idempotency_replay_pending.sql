CREATE TABLE `room_sessions` (
	`provider` text NOT NULL,
	`room_id` text NOT NULL,
	`session_id` text NOT NULL,
	`started_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `room_sessions_room` ON `room_sessions` (`provider`,`room_id`);--> statement-breakpoint
ALTER TABLE `livestreams` ADD `idempotency_input` text;--> statement-breakpoint
ALTER TABLE `recordings` ADD `idempotency_input` text;--> statement-breakpoint
ALTER TABLE `webhook_deliveries` ADD `content_key` text;--> statement-breakpoint
ALTER TABLE `webhook_deliveries` ADD `correlation_key` text;--> statement-breakpoint
CREATE UNIQUE INDEX `webhook_deliveries_provider_content` ON `webhook_deliveries` (`provider`,`content_key`);--> statement-breakpoint
CREATE INDEX `webhook_deliveries_pending_key` ON `webhook_deliveries` (`provider`,`correlation_key`) WHERE "webhook_deliveries"."processed_at" is null;