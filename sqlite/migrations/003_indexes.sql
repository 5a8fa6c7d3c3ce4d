-- Indexes PostgreSQL has had from the start (postgres/migrations): without
-- them the per-minute purges of the change feed and of nonces, and the
-- last-admin check when an admin is demoted, disabled or deleted, scan
-- whole tables.

CREATE INDEX IF NOT EXISTS changes_created_at ON changes (created_at);
CREATE INDEX IF NOT EXISTS nonces_expires_at ON nonces (expires_at);
-- The WHERE matches otherAdmins' query term for term, as SQLite requires
-- of a partial index it is to use.
CREATE INDEX IF NOT EXISTS users_enabled_admins ON users (id) WHERE role = 'admin' AND disabled = 0;
