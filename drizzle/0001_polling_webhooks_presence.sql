CREATE TABLE `room_peers` (
	`provider` text NOT NULL,
	`room_id` text NOT NULL,
	`peer_id` text NOT NULL,
	`joined_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `room_peers_peer` ON `room_peers` (`provider`,`room_id`,`peer_id`);--> statement-breakpoint
ALTER TABLE `livestreams` ADD `next_poll_at` integer;--> statement-breakpoint
ALTER TABLE `livestreams` ADD `poll_interval_ms` integer;--> statement-breakpoint
ALTER TABLE `livestreams` ADD `poll_lease_owner` text;--> statement-breakpoint
ALTER TABLE `livestreams` ADD `poll_lease_until` integer;--> statement-breakpoint
CREATE INDEX `livestreams_next_poll` ON `livestreams` (`next_poll_at`);--> statement-breakpoint
ALTER TABLE `recordings` ADD `next_poll_at` integer;--> statement-breakpoint
ALTER TABLE `recordings` ADD `poll_interval_ms` integer;--> statement-breakpoint
ALTER TABLE `recordings` ADD `poll_lease_owner` text;--> statement-breakpoint
ALTER TABLE `recordings` ADD `poll_lease_until` integer;--> statement-breakpoint
CREATE INDEX `webhook_deliveries_pending` ON `webhook_deliveries` (`processed_at`,`provider`);