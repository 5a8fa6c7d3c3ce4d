-- Core schema: users, login sessions, refresh tokens, revocations, settings
-- and the change feed. Times are timestamptz (microsecond precision, like
-- the SQLite store's integer microseconds).

CREATE TABLE users (
    -- An identity column draws from a sequence, which never hands a value
    -- out twice: a deleted user's tokens never name a new user.
    id            BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      TEXT        NOT NULL,
    username_key  TEXT        NOT NULL UNIQUE,         -- NFKC + case fold
    email         TEXT        NOT NULL DEFAULT '',
    full_name     TEXT        NOT NULL DEFAULT '',
    password_hash TEXT        NOT NULL,
    role          TEXT        NOT NULL CHECK (role IN ('user', 'moderator', 'admin')),
    permissions   TEXT[]      NOT NULL DEFAULT '{}',   -- extra permissions beyond the role's
    disabled      BOOLEAN     NOT NULL DEFAULT false,
    totp_enabled  BOOLEAN     NOT NULL DEFAULT false,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
-- The last-admin check counts these rows.
CREATE INDEX users_enabled_admins ON users (id) WHERE role = 'admin' AND NOT disabled;

CREATE TABLE sessions (
    id         TEXT        PRIMARY KEY,
    user_id    BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope      TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX sessions_user_id ON sessions (user_id);

CREATE TABLE refresh_tokens (
    hash       TEXT        PRIMARY KEY,                -- hex SHA-256 of the opaque token
    session_id TEXT        NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    user_id    BIGINT      NOT NULL,
    scope      TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ,
    successor  BYTEA                                   -- the next token, sealed under a key derived from this one
);
CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

CREATE TABLE revocations (
    kind       TEXT        NOT NULL CHECK (kind IN ('jti', 'sid')),
    value      TEXT        NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (kind, value)
);
CREATE INDEX revocations_expires_at ON revocations (expires_at);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- The change feed (gatehouse.ChangeFeed): appended in the same transaction
-- as every user change, API key deactivation and revocation, polled by
-- every process. Writers append under an advisory lock held to commit, so
-- sequence numbers become visible in order (see recordChanges).
CREATE TABLE changes (
    seq         BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     BIGINT      NOT NULL DEFAULT 0,
    api_key_id  BIGINT      NOT NULL DEFAULT 0,
    rev_kind    TEXT,
    rev_value   TEXT,
    rev_expires TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX changes_created_at ON changes (created_at);
