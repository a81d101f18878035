ALTER TABLE `livestreams` ADD `change_position` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `recordings` ADD `change_position` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `status_events` ADD `snapshot` text;--> statement-breakpoint
-- Rows written before the change log: their position is their latest applied history event.
UPDATE `livestreams` SET `change_position` = coalesce((SELECT max(`id`) FROM `status_events` WHERE `stream_kind` = 'livestream' AND `stream_id` = `livestreams`.`id` AND `applied` = 1), 0);--> statement-breakpoint
UPDATE `recordings` SET `change_position` = coalesce((SELECT max(`id`) FROM `status_events` WHERE `stream_kind` = 'recording' AND `stream_id` = `recordings`.`id` AND `applied` = 1), 0);
