-- Core schema: users, login sessions, refresh tokens, revocations, settings.
-- Times are INTEGER microseconds since the Unix epoch (UTC).

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT, -- AUTOINCREMENT: ids are never reused, so a deleted user's tokens never name a new user
    username      TEXT    NOT NULL,
    username_key  TEXT    NOT NULL UNIQUE,           -- NFKC + case fold
    email         TEXT    NOT NULL DEFAULT '',
    full_name     TEXT    NOT NULL DEFAULT '',
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('user', 'moderator', 'admin')),
    permissions   TEXT    NOT NULL DEFAULT '[]',     -- JSON array of extra permissions
    disabled      INTEGER NOT NULL DEFAULT 0,
    totp_enabled  INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE sessions (
    id         TEXT    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope      TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX sessions_user_id ON sessions (user_id);

CREATE TABLE refresh_tokens (
    hash       TEXT    PRIMARY KEY,                  -- hex SHA-256 of the opaque token
    session_id TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL,
    scope      TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    successor  BLOB                                  -- the next token, sealed under a key derived from this one
);
CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

CREATE TABLE revocations (
    kind       TEXT    NOT NULL CHECK (kind IN ('jti', 'sid')),
    value      TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (kind, value)
);
CREATE INDEX revocations_expires_at ON revocations (expires_at);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- The change feed (gatehouse.ChangeFeed): appended in the same transaction
-- as every user change and revocation, polled by every process.
CREATE TABLE changes (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL DEFAULT 0,
    rev_kind    TEXT,
    rev_value   TEXT,
    rev_expires INTEGER,
    created_at  INTEGER NOT NULL
);
