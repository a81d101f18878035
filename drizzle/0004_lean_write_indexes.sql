DROP INDEX `status_events_stream`;--> statement-breakpoint
DROP INDEX `webhook_deliveries_pending`;--> statement-breakpoint
CREATE INDEX `webhook_deliveries_pending` ON `webhook_deliveries` (`provider`,`received_at`) WHERE "webhook_deliveries"."processed_at" is null;