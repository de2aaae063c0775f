-- The role the service connects as: not a superuser, not the tables' owner,
-- and without BYPASSRLS, so PostgreSQL row-level security is in force.
CREATE ROLE rapport_app LOGIN PASSWORD 'rapport_app' NOSUPERUSER NOBYPASSRLS;
GRANT USAGE ON SCHEMA public TO rapport_app;
ALTER DEFAULT PRIVILEGES FOR ROLE rapport_owner IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO rapport_app;
