-- Hardening (issue 9). A session's refreshes are rate limited in the
-- store, in the transaction that rotates its token (GCRA: refresh_tat is
-- the theoretical arrival time of the session's next rotation,
-- microseconds; NULL until its first). Spent refresh tokens are purged
-- once reuse detection no longer needs them, found by when they were used.

ALTER TABLE sessions ADD COLUMN refresh_tat INTEGER;
CREATE INDEX refresh_tokens_used_at ON refresh_tokens (used_at) WHERE used_at IS NOT NULL;
