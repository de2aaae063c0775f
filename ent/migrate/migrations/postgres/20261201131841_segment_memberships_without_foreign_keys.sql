-- Create index "customerprofile_tenant_id_membership_tier" to table: "customer_profiles"
CREATE INDEX "customerprofile_tenant_id_membership_tier" ON "customer_profiles" ("tenant_id", "membership_tier");
-- Modify "segment_memberships" table
ALTER TABLE "segment_memberships" DROP CONSTRAINT "segment_memberships_customer_profiles_segment_memberships", DROP CONSTRAINT "segment_memberships_segments_memberships";
