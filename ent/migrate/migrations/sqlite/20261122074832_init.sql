-- Create "crm_audit_logs" table
CREATE TABLE `crm_audit_logs` (`id` uuid NOT NULL, `tenant_id` uuid NOT NULL, `actor_id` text NOT NULL DEFAULT (''), `actor_type` text NOT NULL DEFAULT ('user'), `action` text NOT NULL, `entity_type` text NOT NULL, `entity_id` uuid NOT NULL, `changes` json NULL, `request_id` text NULL, `created_at` datetime NOT NULL, PRIMARY KEY (`id`));
-- Create index "crmauditlog_tenant_id_entity_id_created_at" to table: "crm_audit_logs"
CREATE INDEX `crmauditlog_tenant_id_entity_id_created_at` ON `crm_audit_logs` (`tenant_id`, `entity_id`, `created_at`);
-- Create index "crmauditlog_tenant_id_created_at" to table: "crm_audit_logs"
CREATE INDEX `crmauditlog_tenant_id_created_at` ON `crm_audit_logs` (`tenant_id`, `created_at`);
-- Create "customer_notes" table
CREATE TABLE `customer_notes` (`id` uuid NOT NULL, `tenant_id` uuid NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `author_id` text NOT NULL, `body` text NOT NULL, `pinned` bool NOT NULL DEFAULT (false), `customer_id` uuid NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `customer_notes_customer_profiles_notes` FOREIGN KEY (`customer_id`) REFERENCES `customer_profiles` (`id`) ON DELETE CASCADE);
-- Create index "customernote_customer_id_created_at" to table: "customer_notes"
CREATE INDEX `customernote_customer_id_created_at` ON `customer_notes` (`customer_id`, `created_at`);
-- Create "customer_profiles" table
CREATE TABLE `customer_profiles` (`id` uuid NOT NULL, `tenant_id` uuid NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `auth_user_id` text NULL, `email` text NULL, `phone_number` text NULL, `scl_member_id` integer NULL, `teetime_player_id` text NULL, `messaging_contact_id` text NULL, `external_ids` json NOT NULL, `first_name` text NULL, `last_name` text NULL, `display_name` text NULL, `status` text NOT NULL DEFAULT ('ACTIVE'), `lifecycle_stage` text NOT NULL DEFAULT ('PROSPECT'), `tags` json NULL, `engagement_score` integer NULL, `churn_risk_score` integer NULL, `lifetime_value` integer NOT NULL DEFAULT (0), `last_activity_at` datetime NULL, `activity_count_30d` integer NOT NULL DEFAULT (0), `booking_count_30d` integer NOT NULL DEFAULT (0), `handicap` real NULL, `home_club_id` text NULL, `membership_tier` text NULL, `membership_status` text NULL, `email_opt_in` bool NOT NULL DEFAULT (false), `sms_opt_in` bool NOT NULL DEFAULT (false), `push_opt_in` bool NOT NULL DEFAULT (false), `whatsapp_opt_in` bool NOT NULL DEFAULT (false), `attributes` json NULL, `search_text` text NOT NULL DEFAULT (''), PRIMARY KEY (`id`));
-- Create index "customerprofile_tenant_id_email" to table: "customer_profiles"
CREATE INDEX `customerprofile_tenant_id_email` ON `customer_profiles` (`tenant_id`, `email`);
-- Create index "customerprofile_tenant_id_phone_number" to table: "customer_profiles"
CREATE INDEX `customerprofile_tenant_id_phone_number` ON `customer_profiles` (`tenant_id`, `phone_number`);
-- Create index "customerprofile_tenant_id_last_name_id" to table: "customer_profiles"
CREATE INDEX `customerprofile_tenant_id_last_name_id` ON `customer_profiles` (`tenant_id`, `last_name`, `id`);
-- Create index "customerprofile_tenant_id_created_at_id" to table: "customer_profiles"
CREATE INDEX `customerprofile_tenant_id_created_at_id` ON `customer_profiles` (`tenant_id`, `created_at`, `id`);
-- Create index "customerprofile_tenant_id_membership_status" to table: "customer_profiles"
CREATE INDEX `customerprofile_tenant_id_membership_status` ON `customer_profiles` (`tenant_id`, `membership_status`);
-- Create index "customerprofile_tenant_id_last_activity_at" to table: "customer_profiles"
CREATE INDEX `customerprofile_tenant_id_last_activity_at` ON `customer_profiles` (`tenant_id`, `last_activity_at`);
-- Create "identity_aliases" table
CREATE TABLE `identity_aliases` (`id` uuid NOT NULL, `tenant_id` uuid NOT NULL, `kind` text NOT NULL, `value` text NOT NULL, `primary` bool NOT NULL DEFAULT (false), `source` text NOT NULL DEFAULT ('api'), `created_at` datetime NOT NULL, `customer_id` uuid NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `identity_aliases_customer_profiles_aliases` FOREIGN KEY (`customer_id`) REFERENCES `customer_profiles` (`id`) ON DELETE CASCADE);
-- Create index "identityalias_tenant_id_kind_value" to table: "identity_aliases"
CREATE UNIQUE INDEX `identityalias_tenant_id_kind_value` ON `identity_aliases` (`tenant_id`, `kind`, `value`);
-- Create index "identityalias_customer_id" to table: "identity_aliases"
CREATE INDEX `identityalias_customer_id` ON `identity_aliases` (`customer_id`);
-- Create "organizations" table
CREATE TABLE `organizations` (`id` uuid NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `name` text NOT NULL, `slug` text NOT NULL, `plan_tier` text NOT NULL DEFAULT ('free'), `settings` json NULL, `time_zone` text NOT NULL DEFAULT ('UTC'), `default_phone_region` text NOT NULL DEFAULT ('ZA'), PRIMARY KEY (`id`));
-- Create index "organizations_slug_key" to table: "organizations"
CREATE UNIQUE INDEX `organizations_slug_key` ON `organizations` (`slug`);
-- Create "organization_members" table
CREATE TABLE `organization_members` (`id` uuid NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `user_id` text NOT NULL, `role` text NOT NULL DEFAULT ('member'), `invited_by` text NULL, `joined_at` datetime NOT NULL, `tenant_id` uuid NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `organization_members_organizations_members` FOREIGN KEY (`tenant_id`) REFERENCES `organizations` (`id`) ON DELETE NO ACTION);
-- Create index "organizationmember_tenant_id_user_id" to table: "organization_members"
CREATE UNIQUE INDEX `organizationmember_tenant_id_user_id` ON `organization_members` (`tenant_id`, `user_id`);
