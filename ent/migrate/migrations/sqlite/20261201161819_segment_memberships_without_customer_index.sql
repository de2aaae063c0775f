-- Drop index "segmentmembership_customer_id" from table: "segment_memberships"
DROP INDEX `segmentmembership_customer_id`;
