ALTER TABLE `livestreams` DROP COLUMN `options`;--> statement-breakpoint
ALTER TABLE `recordings` DROP COLUMN `options`;