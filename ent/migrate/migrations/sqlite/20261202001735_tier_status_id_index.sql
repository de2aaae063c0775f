-- Drop index "customerprofile_tenant_id_membership_tier" from table: "customer_profiles"
DROP INDEX `customerprofile_tenant_id_membership_tier`;
-- Create index "customerprofile_tenant_id_membership_tier_membership_status_id" to table: "customer_profiles"
CREATE INDEX `customerprofile_tenant_id_membership_tier_membership_status_id` ON `customer_profiles` (`tenant_id`, `membership_tier`, `membership_status`, `id`);
