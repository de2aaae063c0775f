-- Create "crm_audit_logs" table
CREATE TABLE "crm_audit_logs" ("id" uuid NOT NULL, "tenant_id" uuid NOT NULL, "actor_id" character varying NOT NULL DEFAULT '', "actor_type" character varying NOT NULL DEFAULT 'user', "action" character varying NOT NULL, "entity_type" character varying NOT NULL, "entity_id" uuid NOT NULL, "changes" jsonb NULL, "request_id" character varying NULL, "created_at" timestamptz NOT NULL, PRIMARY KEY ("id"));
-- Create index "crmauditlog_tenant_id_created_at" to table: "crm_audit_logs"
CREATE INDEX "crmauditlog_tenant_id_created_at" ON "crm_audit_logs" ("tenant_id", "created_at");
-- Create index "crmauditlog_tenant_id_entity_id_created_at" to table: "crm_audit_logs"
CREATE INDEX "crmauditlog_tenant_id_entity_id_created_at" ON "crm_audit_logs" ("tenant_id", "entity_id", "created_at");
-- Create "customer_profiles" table
CREATE TABLE "customer_profiles" ("id" uuid NOT NULL, "tenant_id" uuid NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "auth_user_id" character varying NULL, "email" character varying NULL, "phone_number" character varying NULL, "scl_member_id" bigint NULL, "teetime_player_id" character varying NULL, "messaging_contact_id" character varying NULL, "external_ids" jsonb NOT NULL, "first_name" character varying NULL, "last_name" character varying NULL, "display_name" character varying NULL, "status" character varying NOT NULL DEFAULT 'ACTIVE', "lifecycle_stage" character varying NOT NULL DEFAULT 'PROSPECT', "tags" jsonb NULL, "engagement_score" bigint NULL, "churn_risk_score" bigint NULL, "lifetime_value" bigint NOT NULL DEFAULT 0, "last_activity_at" timestamptz NULL, "activity_count_30d" bigint NOT NULL DEFAULT 0, "booking_count_30d" bigint NOT NULL DEFAULT 0, "handicap" double precision NULL, "home_club_id" character varying NULL, "membership_tier" character varying NULL, "membership_status" character varying NULL, "email_opt_in" boolean NOT NULL DEFAULT false, "sms_opt_in" boolean NOT NULL DEFAULT false, "push_opt_in" boolean NOT NULL DEFAULT false, "whatsapp_opt_in" boolean NOT NULL DEFAULT false, "attributes" jsonb NULL, "search_text" text NOT NULL DEFAULT '', PRIMARY KEY ("id"));
-- Create index "customerprofile_tenant_id_created_at_id" to table: "customer_profiles"
CREATE INDEX "customerprofile_tenant_id_created_at_id" ON "customer_profiles" ("tenant_id", "created_at", "id");
-- Create index "customerprofile_tenant_id_email" to table: "customer_profiles"
CREATE INDEX "customerprofile_tenant_id_email" ON "customer_profiles" ("tenant_id", "email");
-- Create index "customerprofile_tenant_id_last_activity_at" to table: "customer_profiles"
CREATE INDEX "customerprofile_tenant_id_last_activity_at" ON "customer_profiles" ("tenant_id", "last_activity_at");
-- Create index "customerprofile_tenant_id_last_name_id" to table: "customer_profiles"
CREATE INDEX "customerprofile_tenant_id_last_name_id" ON "customer_profiles" ("tenant_id", "last_name", "id");
-- Create index "customerprofile_tenant_id_membership_status" to table: "customer_profiles"
CREATE INDEX "customerprofile_tenant_id_membership_status" ON "customer_profiles" ("tenant_id", "membership_status");
-- Create index "customerprofile_tenant_id_phone_number" to table: "customer_profiles"
CREATE INDEX "customerprofile_tenant_id_phone_number" ON "customer_profiles" ("tenant_id", "phone_number");
-- Create "customer_notes" table
CREATE TABLE "customer_notes" ("id" uuid NOT NULL, "tenant_id" uuid NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "author_id" character varying NOT NULL, "body" character varying NOT NULL, "pinned" boolean NOT NULL DEFAULT false, "customer_id" uuid NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "customer_notes_customer_profiles_notes" FOREIGN KEY ("customer_id") REFERENCES "customer_profiles" ("id") ON UPDATE NO ACTION ON DELETE CASCADE);
-- Create index "customernote_customer_id_created_at" to table: "customer_notes"
CREATE INDEX "customernote_customer_id_created_at" ON "customer_notes" ("customer_id", "created_at");
-- Create "identity_aliases" table
CREATE TABLE "identity_aliases" ("id" uuid NOT NULL, "tenant_id" uuid NOT NULL, "kind" character varying NOT NULL, "value" character varying NOT NULL, "primary" boolean NOT NULL DEFAULT false, "source" character varying NOT NULL DEFAULT 'api', "created_at" timestamptz NOT NULL, "customer_id" uuid NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "identity_aliases_customer_profiles_aliases" FOREIGN KEY ("customer_id") REFERENCES "customer_profiles" ("id") ON UPDATE NO ACTION ON DELETE CASCADE);
-- Create index "identityalias_customer_id" to table: "identity_aliases"
CREATE INDEX "identityalias_customer_id" ON "identity_aliases" ("customer_id");
-- Create index "identityalias_tenant_id_kind_value" to table: "identity_aliases"
CREATE UNIQUE INDEX "identityalias_tenant_id_kind_value" ON "identity_aliases" ("tenant_id", "kind", "value");
-- Create "organizations" table
CREATE TABLE "organizations" ("id" uuid NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "name" character varying NOT NULL, "slug" character varying NOT NULL, "plan_tier" character varying NOT NULL DEFAULT 'free', "settings" jsonb NULL, "time_zone" character varying NOT NULL DEFAULT 'UTC', "default_phone_region" character varying NOT NULL DEFAULT 'ZA', PRIMARY KEY ("id"));
-- Create index "organizations_slug_key" to table: "organizations"
CREATE UNIQUE INDEX "organizations_slug_key" ON "organizations" ("slug");
-- Create "organization_members" table
CREATE TABLE "organization_members" ("id" uuid NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "user_id" character varying NOT NULL, "role" character varying NOT NULL DEFAULT 'member', "invited_by" character varying NULL, "joined_at" timestamptz NOT NULL, "tenant_id" uuid NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "organization_members_organizations_members" FOREIGN KEY ("tenant_id") REFERENCES "organizations" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION);
-- Create index "organizationmember_tenant_id_user_id" to table: "organization_members"
CREATE UNIQUE INDEX "organizationmember_tenant_id_user_id" ON "organization_members" ("tenant_id", "user_id");
