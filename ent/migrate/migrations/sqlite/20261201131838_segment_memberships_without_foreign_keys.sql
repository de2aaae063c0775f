-- Disable the enforcement of foreign-keys constraints
PRAGMA foreign_keys = off;
-- Create index "customerprofile_tenant_id_membership_tier" to table: "customer_profiles"
CREATE INDEX `customerprofile_tenant_id_membership_tier` ON `customer_profiles` (`tenant_id`, `membership_tier`);
-- Create "new_segment_memberships" table
CREATE TABLE `new_segment_memberships` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `tenant_id` uuid NOT NULL, `segment_id` uuid NOT NULL, `customer_id` uuid NOT NULL, `source` text NOT NULL DEFAULT ('RULE'), `added_at` datetime NOT NULL);
-- Copy rows from old table "segment_memberships" to new temporary table "new_segment_memberships"
INSERT INTO `new_segment_memberships` (`id`, `tenant_id`, `segment_id`, `customer_id`, `source`, `added_at`) SELECT `id`, `tenant_id`, `segment_id`, `customer_id`, `source`, `added_at` FROM `segment_memberships`;
-- Drop "segment_memberships" table after copying rows
DROP TABLE `segment_memberships`;
-- Rename temporary table "new_segment_memberships" to "segment_memberships"
ALTER TABLE `new_segment_memberships` RENAME TO `segment_memberships`;
-- Create index "segmentmembership_segment_id_customer_id" to table: "segment_memberships"
CREATE UNIQUE INDEX `segmentmembership_segment_id_customer_id` ON `segment_memberships` (`segment_id`, `customer_id`);
-- Create index "segmentmembership_customer_id" to table: "segment_memberships"
CREATE INDEX `segmentmembership_customer_id` ON `segment_memberships` (`customer_id`);
-- Enable back the enforcement of foreign-keys constraints
PRAGMA foreign_keys = on;
