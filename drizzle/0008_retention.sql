CREATE TABLE `change_log_pruned` (
	`id` integer PRIMARY KEY DEFAULT 1 NOT NULL,
	`position` integer NOT NULL
);
--> statement-breakpoint
ALTER TABLE `livestreams` ADD `history_pruned_at` integer;--> statement-breakpoint
CREATE INDEX `livestreams_prunable` ON `livestreams` (`updated_at`) WHERE status in ('STOPPED', 'FAILED') and history_pruned_at is null;--> statement-breakpoint
ALTER TABLE `recordings` ADD `history_pruned_at` integer;--> statement-breakpoint
CREATE INDEX `recordings_prunable` ON `recordings` (`updated_at`) WHERE status in ('COMPLETED', 'FAILED') and history_pruned_at is null;