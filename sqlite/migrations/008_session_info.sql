-- Session metadata for the sessions list, browser sessions and OIDC
-- (contract §11). A token session (kind 'token') lasts as long as its
-- refresh tokens and has no expires_at; a browser session has no refresh
-- token and ends at expires_at. Times are INTEGER microseconds, as in 001.
ALTER TABLE sessions ADD COLUMN kind TEXT NOT NULL DEFAULT 'token' CHECK (kind IN ('token', 'browser'));
ALTER TABLE sessions ADD COLUMN expires_at INTEGER;
ALTER TABLE sessions ADD COLUMN auth_time INTEGER;
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN last_used_at INTEGER;
ALTER TABLE sessions ADD COLUMN client_ip TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
CREATE INDEX sessions_expires_at ON sessions (expires_at) WHERE expires_at IS NOT NULL;
