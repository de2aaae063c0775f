-- Create "api_keys" table
CREATE TABLE "api_keys" ("id" uuid NOT NULL, "organization_id" uuid NOT NULL, "name" character varying NOT NULL, "prefix" character varying NOT NULL, "hash" bytea NOT NULL, "role" character varying NOT NULL, "created_by" character varying NOT NULL DEFAULT '', "created_at" timestamptz NOT NULL, "expires_at" timestamptz NULL, "last_used_at" timestamptz NULL, "revoked_at" timestamptz NULL, PRIMARY KEY ("id"));
-- Create index "apikey_organization_id_created_at" to table: "api_keys"
CREATE INDEX "apikey_organization_id_created_at" ON "api_keys" ("organization_id", "created_at");
-- Create index "apikey_prefix" to table: "api_keys"
CREATE UNIQUE INDEX "apikey_prefix" ON "api_keys" ("prefix");
-- Create "duplicate_candidates" table
CREATE TABLE "duplicate_candidates" ("id" uuid NOT NULL, "tenant_id" uuid NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "customer_a_id" uuid NOT NULL, "customer_b_id" uuid NOT NULL, "reason" character varying NOT NULL, "confidence" bigint NOT NULL, "evidence" jsonb NULL, "status" character varying NOT NULL DEFAULT 'OPEN', "resolved_at" timestamptz NULL, "resolved_by" character varying NULL, PRIMARY KEY ("id"));
-- Create index "duplicatecandidate_customer_b_id" to table: "duplicate_candidates"
CREATE INDEX "duplicatecandidate_customer_b_id" ON "duplicate_candidates" ("customer_b_id");
-- Create index "duplicatecandidate_tenant_id_customer_a_id_customer_b_id" to table: "duplicate_candidates"
CREATE UNIQUE INDEX "duplicatecandidate_tenant_id_customer_a_id_customer_b_id" ON "duplicate_candidates" ("tenant_id", "customer_a_id", "customer_b_id");
-- Create index "duplicatecandidate_tenant_id_status_created_at" to table: "duplicate_candidates"
CREATE INDEX "duplicatecandidate_tenant_id_status_created_at" ON "duplicate_candidates" ("tenant_id", "status", "created_at");
-- Create "merge_records" table
CREATE TABLE "merge_records" ("id" uuid NOT NULL, "tenant_id" uuid NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "survivor_id" uuid NOT NULL, "merged_ids" jsonb NOT NULL, "snapshot" jsonb NOT NULL, "status" character varying NOT NULL DEFAULT 'MERGED', "merged_by" character varying NOT NULL DEFAULT '', "unmerged_at" timestamptz NULL, "unmerged_by" character varying NULL, PRIMARY KEY ("id"));
-- Create index "mergerecord_tenant_id_created_at" to table: "merge_records"
CREATE INDEX "mergerecord_tenant_id_created_at" ON "merge_records" ("tenant_id", "created_at");
-- Create index "mergerecord_tenant_id_survivor_id" to table: "merge_records"
CREATE INDEX "mergerecord_tenant_id_survivor_id" ON "merge_records" ("tenant_id", "survivor_id");
-- Create "outbox_events" table
CREATE TABLE "outbox_events" ("id" uuid NOT NULL, "organization_id" uuid NOT NULL, "type" character varying NOT NULL, "payload" jsonb NOT NULL, "created_at" timestamptz NOT NULL, "published_at" timestamptz NULL, "attempts" bigint NOT NULL DEFAULT 0, "last_error" character varying NULL, PRIMARY KEY ("id"));
-- Create index "outboxevent_published_at_id" to table: "outbox_events"
CREATE INDEX "outboxevent_published_at_id" ON "outbox_events" ("published_at", "id");
-- Create "sync_logs" table
CREATE TABLE "sync_logs" ("id" uuid NOT NULL, "tenant_id" uuid NOT NULL, "source" character varying NOT NULL, "event_id" character varying NOT NULL, "event_type" character varying NOT NULL, "status" character varying NOT NULL, "reason" character varying NULL, "customer_id" uuid NULL, "occurred_at" timestamptz NULL, "processed_at" timestamptz NOT NULL, PRIMARY KEY ("id"));
-- Create index "synclog_tenant_id_processed_at" to table: "sync_logs"
CREATE INDEX "synclog_tenant_id_processed_at" ON "sync_logs" ("tenant_id", "processed_at");
-- Create index "synclog_tenant_id_source_event_id" to table: "sync_logs"
CREATE UNIQUE INDEX "synclog_tenant_id_source_event_id" ON "sync_logs" ("tenant_id", "source", "event_id");
-- Create "activities" table
CREATE TABLE "activities" ("id" uuid NOT NULL, "tenant_id" uuid NOT NULL, "type" character varying NOT NULL, "category" character varying NOT NULL, "channel" character varying NULL, "direction" character varying NULL, "title" character varying NOT NULL, "description" character varying NULL, "metadata" jsonb NULL, "source_service" character varying NOT NULL, "source_id" character varying NULL, "staff_id" character varying NULL, "occurred_at" timestamptz NOT NULL, "created_at" timestamptz NOT NULL, "customer_id" uuid NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "activities_customer_profiles_activities" FOREIGN KEY ("customer_id") REFERENCES "customer_profiles" ("id") ON UPDATE NO ACTION ON DELETE CASCADE);
-- Create index "activity_customer_id_occurred_at_id" to table: "activities"
CREATE INDEX "activity_customer_id_occurred_at_id" ON "activities" ("customer_id", "occurred_at", "id");
-- Create index "activity_tenant_id_type_occurred_at" to table: "activities"
CREATE INDEX "activity_tenant_id_type_occurred_at" ON "activities" ("tenant_id", "type", "occurred_at");
