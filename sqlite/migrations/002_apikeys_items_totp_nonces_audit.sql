-- API keys, example items, two-factor state, single-use nonces, audit log.

CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    lookup_id    TEXT    NOT NULL UNIQUE,
    secret_hash  BLOB    NOT NULL,                   -- HMAC-SHA-256 of the secret part; the key itself is never stored
    scope        TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    last_used_at INTEGER,
    active       INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX api_keys_user_id ON api_keys (user_id);

CREATE TABLE items (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    description TEXT    NOT NULL DEFAULT '',
    price       REAL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX items_owner_id ON items (owner_id);

CREATE TABLE totp (
    user_id   INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret    TEXT    NOT NULL DEFAULT '',           -- sealed (AES-256-GCM)
    pending   TEXT    NOT NULL DEFAULT '',           -- sealed
    enabled   INTEGER NOT NULL DEFAULT 0,
    last_step INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE recovery_codes (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hash    TEXT    NOT NULL,
    PRIMARY KEY (user_id, hash)
);

CREATE TABLE nonces (
    id         TEXT    PRIMARY KEY,
    expires_at INTEGER NOT NULL
);

CREATE TABLE audit_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    time       INTEGER NOT NULL,
    type       TEXT    NOT NULL,
    outcome    TEXT    NOT NULL,
    user_id    INTEGER NOT NULL DEFAULT 0,
    username   TEXT    NOT NULL DEFAULT '',
    client_ip  TEXT    NOT NULL DEFAULT '',
    user_agent TEXT    NOT NULL DEFAULT '',
    request_id TEXT    NOT NULL DEFAULT '',
    path       TEXT    NOT NULL DEFAULT '',
    detail     TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_time ON audit_events (time);
CREATE INDEX audit_events_user ON audit_events (user_id, id);
CREATE INDEX audit_events_type ON audit_events (type, id);

ALTER TABLE changes ADD COLUMN api_key_id INTEGER NOT NULL DEFAULT 0;
