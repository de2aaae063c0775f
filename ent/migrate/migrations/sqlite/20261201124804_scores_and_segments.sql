-- Add column "health_score" to table: "customer_profiles"
ALTER TABLE `customer_profiles` ADD COLUMN `health_score` integer NULL;
-- Add column "health_band" to table: "customer_profiles"
ALTER TABLE `customer_profiles` ADD COLUMN `health_band` text NULL;
-- Add column "churn_risk_baseline" to table: "customer_profiles"
ALTER TABLE `customer_profiles` ADD COLUMN `churn_risk_baseline` integer NULL;
-- Add column "churn_risk_baseline_at" to table: "customer_profiles"
ALTER TABLE `customer_profiles` ADD COLUMN `churn_risk_baseline_at` datetime NULL;
-- Add column "churn_risk_trend" to table: "customer_profiles"
ALTER TABLE `customer_profiles` ADD COLUMN `churn_risk_trend` integer NULL;
-- Add column "score_components" to table: "customer_profiles"
ALTER TABLE `customer_profiles` ADD COLUMN `score_components` json NULL;
-- Add column "scores_computed_at" to table: "customer_profiles"
ALTER TABLE `customer_profiles` ADD COLUMN `scores_computed_at` datetime NULL;
-- Create "score_runs" table
CREATE TABLE `score_runs` (`id` uuid NOT NULL, `tenant_id` uuid NOT NULL, `started_at` datetime NOT NULL, `finished_at` datetime NOT NULL, `trigger` text NOT NULL, `profiles` integer NOT NULL, `changed` integer NOT NULL, `high_churn_crossings` integer NOT NULL, `ltv_reference_cents` integer NOT NULL, PRIMARY KEY (`id`));
-- Create index "scorerun_tenant_id_started_at" to table: "score_runs"
CREATE INDEX `scorerun_tenant_id_started_at` ON `score_runs` (`tenant_id`, `started_at`);
-- Create "segments" table
CREATE TABLE `segments` (`id` uuid NOT NULL, `tenant_id` uuid NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `name` text NOT NULL, `description` text NULL, `type` text NOT NULL, `model` text NULL, `rules` json NULL, `active` bool NOT NULL DEFAULT (true), `member_count` integer NOT NULL DEFAULT (0), `last_refreshed_at` datetime NULL, `last_refresh_ms` integer NULL, `messaging_synced_at` datetime NULL, `created_by` text NOT NULL DEFAULT (''), PRIMARY KEY (`id`));
-- Create index "segment_tenant_id_name" to table: "segments"
CREATE UNIQUE INDEX `segment_tenant_id_name` ON `segments` (`tenant_id`, `name`);
-- Create "segment_memberships" table
CREATE TABLE `segment_memberships` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `tenant_id` uuid NOT NULL, `source` text NOT NULL DEFAULT ('RULE'), `added_at` datetime NOT NULL, `customer_id` uuid NOT NULL, `segment_id` uuid NOT NULL, CONSTRAINT `segment_memberships_customer_profiles_segment_memberships` FOREIGN KEY (`customer_id`) REFERENCES `customer_profiles` (`id`) ON DELETE CASCADE, CONSTRAINT `segment_memberships_segments_memberships` FOREIGN KEY (`segment_id`) REFERENCES `segments` (`id`) ON DELETE CASCADE);
-- Create index "segmentmembership_segment_id_customer_id" to table: "segment_memberships"
CREATE UNIQUE INDEX `segmentmembership_segment_id_customer_id` ON `segment_memberships` (`segment_id`, `customer_id`);
-- Create index "segmentmembership_customer_id" to table: "segment_memberships"
CREATE INDEX `segmentmembership_customer_id` ON `segment_memberships` (`customer_id`);
