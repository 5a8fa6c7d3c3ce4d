-- The last-admin check (keepAnAdmin) is one statement in both stores:
-- role = 'admin' AND NOT disabled, as PostgreSQL's partial index has it.
-- SQLite uses a partial index only for a query that repeats its WHERE term
-- for term, so the index of 003 (disabled = 0) takes that shape too.

DROP INDEX IF EXISTS users_enabled_admins;
CREATE INDEX users_enabled_admins ON users (id) WHERE role = 'admin' AND NOT disabled;
