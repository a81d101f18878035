DROP INDEX "livestreams_one_active_per_room";--> statement-breakpoint
DROP INDEX "recordings_one_active_per_room";--> statement-breakpoint
UPDATE "livestreams" SET "stopped_at" = "updated_at" WHERE "stopped_at" IS NULL AND "status" NOT IN ('STARTING', 'LIVE', 'STOPPING');--> statement-breakpoint
UPDATE "livestreams" SET "stopped_at" = NULL WHERE "stopped_at" IS NOT NULL AND "status" IN ('STARTING', 'LIVE', 'STOPPING');--> statement-breakpoint
UPDATE "recordings" SET "stopped_at" = "updated_at" WHERE "stopped_at" IS NULL AND "status" NOT IN ('STARTING', 'RECORDING', 'PAUSED', 'STOPPING');--> statement-breakpoint
UPDATE "recordings" SET "stopped_at" = NULL WHERE "stopped_at" IS NOT NULL AND "status" IN ('STARTING', 'RECORDING', 'PAUSED', 'STOPPING');--> statement-breakpoint
CREATE UNIQUE INDEX "livestreams_one_active_per_room" ON "livestreams" USING btree ("provider","room_id") WHERE "livestreams"."stopped_at" is null;--> statement-breakpoint
CREATE UNIQUE INDEX "recordings_one_active_per_room" ON "recordings" USING btree ("provider","room_id") WHERE "recordings"."stopped_at" is null;
