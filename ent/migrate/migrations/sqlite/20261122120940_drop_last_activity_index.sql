-- Drop index "customerprofile_tenant_id_last_activity_at" from table: "customer_profiles"
DROP INDEX `customerprofile_tenant_id_last_activity_at`;
