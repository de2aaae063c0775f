-- Modify "activities" table
ALTER TABLE "activities" DROP CONSTRAINT "activities_customer_profiles_activities";
-- Modify "identity_aliases" table
ALTER TABLE "identity_aliases" DROP CONSTRAINT "identity_aliases_customer_profiles_aliases";
