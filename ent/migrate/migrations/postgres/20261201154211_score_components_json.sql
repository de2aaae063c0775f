-- Modify "customer_profiles" table
ALTER TABLE "customer_profiles" ALTER COLUMN "score_components" TYPE json;
