-- The role the service connects as: not a superuser, not the tables' owner,
-- and without BYPASSRLS, so PostgreSQL row-level security is in force.
CREATE ROLE rapport_app LOGIN PASSWORD 'rapport_app' NOSUPERUSER NOBYPASSRLS;
GRANT USAGE ON SCHEMA public TO rapport_app;
ALTER DEFAULT PRIVILEGES FOR ROLE rapport_owner IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO rapport_app;
-- Indexed conditions under row-level security: PostgreSQL checks the policy
-- before any condition whose function is not leakproof, so without these the
-- trigram index cannot serve search_text LIKE '%term%' for rapport_app (every
-- search reads the whole table), nor the name and e-mail domain index the
-- duplicate check of ingestion (split_part). Their errors depend on the
-- pattern or field position only, never on a row. Per database;
-- `rapport migrate` does it itself when it runs as a superuser.
ALTER FUNCTION pg_catalog.textlike(text, text) LEAKPROOF;
ALTER FUNCTION pg_catalog.split_part(text, text, integer) LEAKPROOF;
