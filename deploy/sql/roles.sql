-- One database role per schema owner, run once by the database's administrator (psql -v
-- db=shopsync -f roles.sql). Each service connects as its own role and reaches only the
-- schemas it owns: it owns them, and has no privilege on any other schema.
--
-- A role also needs CREATE on the database: its migrations start with
-- `CREATE SCHEMA IF NOT EXISTS <own schema>`, which PostgreSQL checks against the database's
-- CREATE privilege even when the schema exists. That privilege creates new schemas; it grants
-- nothing on the others'.
\set ON_ERROR_STOP on

CREATE ROLE shopsync_scheduler LOGIN;   -- schemas scheduler, shops
CREATE ROLE shopsync_posting LOGIN;     -- schema posting
CREATE ROLE shopsync_sync LOGIN;        -- schemas shopify (the sync services' shared budgets), order_sync, inventory

CREATE SCHEMA IF NOT EXISTS scheduler AUTHORIZATION shopsync_scheduler;
CREATE SCHEMA IF NOT EXISTS shops AUTHORIZATION shopsync_scheduler;
CREATE SCHEMA IF NOT EXISTS posting AUTHORIZATION shopsync_posting;
CREATE SCHEMA IF NOT EXISTS shopify AUTHORIZATION shopsync_sync;
CREATE SCHEMA IF NOT EXISTS order_sync AUTHORIZATION shopsync_sync;
CREATE SCHEMA IF NOT EXISTS inventory AUTHORIZATION shopsync_sync;

REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT, CREATE, TEMPORARY ON DATABASE :"db"
    TO shopsync_scheduler, shopsync_posting, shopsync_sync;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
