CREATE TABLE `callback_subscriptions` (
	`id` text PRIMARY KEY NOT NULL,
	`callback_url` text NOT NULL,
	`verifier` text NOT NULL,
	`heartbeat_interval_ms` integer NOT NULL,
	`operation` text NOT NULL,
	`caller` text NOT NULL,
	`position` integer,
	`lease_owner` text,
	`lease_until` integer,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `callback_subscriptions_lease` ON `callback_subscriptions` (`lease_until`);