-- sqlite: foreign_keys off
-- OAuth 2.1 and OpenID Connect (contract §13): registered clients, their
-- authorization codes and the consents users gave, and the client a
-- session was opened for. Times are INTEGER microseconds, as in 001.
--
-- The sessions table is rebuilt (SQLite's documented twelve-step way,
-- https://sqlite.org/lang_altertable.html#otheralter): its kind CHECK must
-- also allow 'oauth', and SQLite cannot alter a CHECK. The line above
-- makes the migration runner turn foreign keys off around this migration,
-- so that dropping the old table deletes no refresh token, and check them
-- before it commits.

CREATE TABLE sessions_new (
    id           TEXT    PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope        TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER,
    refresh_tat  INTEGER,
    kind         TEXT    NOT NULL DEFAULT 'token' CHECK (kind IN ('token', 'browser', 'oauth')),
    expires_at   INTEGER,
    auth_time    INTEGER,
    amr          TEXT    NOT NULL DEFAULT '',
    last_used_at INTEGER,
    client_ip    TEXT    NOT NULL DEFAULT '',
    user_agent   TEXT    NOT NULL DEFAULT '',
    client_id    TEXT    NOT NULL DEFAULT ''  -- the OAuth client of a kind 'oauth' session; no foreign key: a deleted client's sessions stay, revoked, until purged
);
INSERT INTO sessions_new (id, user_id, scope, created_at, revoked_at, refresh_tat, kind, expires_at, auth_time, amr, last_used_at, client_ip, user_agent)
    SELECT id, user_id, scope, created_at, revoked_at, refresh_tat, kind, expires_at, auth_time, amr, last_used_at, client_ip, user_agent FROM sessions;
DROP TABLE sessions;
ALTER TABLE sessions_new RENAME TO sessions;
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX sessions_client_id ON sessions (client_id);

CREATE TABLE oauth_clients (
    id                        TEXT    PRIMARY KEY,        -- client_id, [A-Za-z0-9_-]
    name                      TEXT    NOT NULL,
    secrets                   TEXT    NOT NULL DEFAULT '[]', -- JSON [{"hash", "created_at", "expires_at"}]: hashes only
    public                    INTEGER NOT NULL DEFAULT 0,
    first_party               INTEGER NOT NULL DEFAULT 0,
    redirect_uris             TEXT    NOT NULL DEFAULT '[]', -- JSON arrays of strings
    post_logout_redirect_uris TEXT    NOT NULL DEFAULT '[]',
    grants                    TEXT    NOT NULL DEFAULT '[]',
    scopes                    TEXT    NOT NULL DEFAULT '[]',
    id_token_alg              TEXT    NOT NULL DEFAULT '',
    created_at                INTEGER NOT NULL,
    updated_at                INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE oauth_codes (
    hash           TEXT    PRIMARY KEY,                   -- hex SHA-256 of the code
    client_id      TEXT    NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    user_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    browser_sid    TEXT    NOT NULL DEFAULT '',
    redirect_uri   TEXT    NOT NULL,
    scope          TEXT    NOT NULL,
    nonce          TEXT    NOT NULL DEFAULT '',
    code_challenge TEXT    NOT NULL,
    auth_time      INTEGER,
    amr            TEXT    NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    redeemed_at    INTEGER,
    issued_session TEXT    NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE INDEX oauth_codes_expires_at ON oauth_codes (expires_at);
CREATE INDEX oauth_codes_client_id ON oauth_codes (client_id);
CREATE INDEX oauth_codes_user_id ON oauth_codes (user_id);

CREATE TABLE oauth_consents (
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT    NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    scope      TEXT    NOT NULL,
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, client_id)
) WITHOUT ROWID;
CREATE INDEX oauth_consents_client_id ON oauth_consents (client_id);
