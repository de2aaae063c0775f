-- Create "activities" table
CREATE TABLE `activities` (`id` uuid NOT NULL, `tenant_id` uuid NOT NULL, `type` text NOT NULL, `category` text NOT NULL, `channel` text NULL, `direction` text NULL, `title` text NOT NULL, `description` text NULL, `metadata` json NULL, `source_service` text NOT NULL, `source_id` text NULL, `staff_id` text NULL, `occurred_at` datetime NOT NULL, `created_at` datetime NOT NULL, `customer_id` uuid NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `activities_customer_profiles_activities` FOREIGN KEY (`customer_id`) REFERENCES `customer_profiles` (`id`) ON DELETE CASCADE);
-- Create index "activity_customer_id_occurred_at_id" to table: "activities"
CREATE INDEX `activity_customer_id_occurred_at_id` ON `activities` (`customer_id`, `occurred_at`, `id`);
-- Create index "activity_tenant_id_type_occurred_at" to table: "activities"
CREATE INDEX `activity_tenant_id_type_occurred_at` ON `activities` (`tenant_id`, `type`, `occurred_at`);
-- Create "api_keys" table
CREATE TABLE `api_keys` (`id` uuid NOT NULL, `organization_id` uuid NOT NULL, `name` text NOT NULL, `prefix` text NOT NULL, `hash` blob NOT NULL, `role` text NOT NULL, `created_by` text NOT NULL DEFAULT (''), `created_at` datetime NOT NULL, `expires_at` datetime NULL, `last_used_at` datetime NULL, `revoked_at` datetime NULL, PRIMARY KEY (`id`));
-- Create index "apikey_prefix" to table: "api_keys"
CREATE UNIQUE INDEX `apikey_prefix` ON `api_keys` (`prefix`);
-- Create index "apikey_organization_id_created_at" to table: "api_keys"
CREATE INDEX `apikey_organization_id_created_at` ON `api_keys` (`organization_id`, `created_at`);
-- Create "duplicate_candidates" table
CREATE TABLE `duplicate_candidates` (`id` uuid NOT NULL, `tenant_id` uuid NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `customer_a_id` uuid NOT NULL, `customer_b_id` uuid NOT NULL, `reason` text NOT NULL, `confidence` integer NOT NULL, `evidence` json NULL, `status` text NOT NULL DEFAULT ('OPEN'), `resolved_at` datetime NULL, `resolved_by` text NULL, PRIMARY KEY (`id`));
-- Create index "duplicatecandidate_tenant_id_customer_a_id_customer_b_id" to table: "duplicate_candidates"
CREATE UNIQUE INDEX `duplicatecandidate_tenant_id_customer_a_id_customer_b_id` ON `duplicate_candidates` (`tenant_id`, `customer_a_id`, `customer_b_id`);
-- Create index "duplicatecandidate_tenant_id_status_created_at" to table: "duplicate_candidates"
CREATE INDEX `duplicatecandidate_tenant_id_status_created_at` ON `duplicate_candidates` (`tenant_id`, `status`, `created_at`);
-- Create index "duplicatecandidate_customer_b_id" to table: "duplicate_candidates"
CREATE INDEX `duplicatecandidate_customer_b_id` ON `duplicate_candidates` (`customer_b_id`);
-- Create "merge_records" table
CREATE TABLE `merge_records` (`id` uuid NOT NULL, `tenant_id` uuid NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `survivor_id` uuid NOT NULL, `merged_ids` json NOT NULL, `snapshot` json NOT NULL, `status` text NOT NULL DEFAULT ('MERGED'), `merged_by` text NOT NULL DEFAULT (''), `unmerged_at` datetime NULL, `unmerged_by` text NULL, PRIMARY KEY (`id`));
-- Create index "mergerecord_tenant_id_survivor_id" to table: "merge_records"
CREATE INDEX `mergerecord_tenant_id_survivor_id` ON `merge_records` (`tenant_id`, `survivor_id`);
-- Create index "mergerecord_tenant_id_created_at" to table: "merge_records"
CREATE INDEX `mergerecord_tenant_id_created_at` ON `merge_records` (`tenant_id`, `created_at`);
-- Create "outbox_events" table
CREATE TABLE `outbox_events` (`id` uuid NOT NULL, `organization_id` uuid NOT NULL, `type` text NOT NULL, `payload` blob NOT NULL, `created_at` datetime NOT NULL, `published_at` datetime NULL, `attempts` integer NOT NULL DEFAULT (0), `last_error` text NULL, PRIMARY KEY (`id`));
-- Create index "outboxevent_published_at_id" to table: "outbox_events"
CREATE INDEX `outboxevent_published_at_id` ON `outbox_events` (`published_at`, `id`);
-- Create "sync_logs" table
CREATE TABLE `sync_logs` (`id` uuid NOT NULL, `tenant_id` uuid NOT NULL, `source` text NOT NULL, `event_id` text NOT NULL, `event_type` text NOT NULL, `status` text NOT NULL, `reason` text NULL, `customer_id` uuid NULL, `occurred_at` datetime NULL, `processed_at` datetime NOT NULL, PRIMARY KEY (`id`));
-- Create index "synclog_tenant_id_source_event_id" to table: "sync_logs"
CREATE UNIQUE INDEX `synclog_tenant_id_source_event_id` ON `sync_logs` (`tenant_id`, `source`, `event_id`);
-- Create index "synclog_tenant_id_processed_at" to table: "sync_logs"
CREATE INDEX `synclog_tenant_id_processed_at` ON `sync_logs` (`tenant_id`, `processed_at`);
