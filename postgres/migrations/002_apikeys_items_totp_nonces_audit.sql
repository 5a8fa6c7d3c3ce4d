-- API keys, example items, two-factor state, single-use nonces, audit log.

CREATE TABLE api_keys (
    id           BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT        NOT NULL,
    lookup_id    TEXT        NOT NULL UNIQUE,
    secret_hash  BYTEA       NOT NULL,                 -- HMAC-SHA-256 of the secret part; the key itself is never stored
    scope        TEXT        NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ,
    active       BOOLEAN     NOT NULL DEFAULT true
);
CREATE INDEX api_keys_user_id ON api_keys (user_id, id);

CREATE TABLE items (
    id          BIGINT           GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner_id    BIGINT           NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        TEXT             NOT NULL,
    description TEXT             NOT NULL DEFAULT '',
    price       DOUBLE PRECISION,
    created_at  TIMESTAMPTZ      NOT NULL
);
CREATE INDEX items_owner_id ON items (owner_id, id);

CREATE TABLE totp (
    user_id   BIGINT  PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret    TEXT    NOT NULL DEFAULT '',             -- sealed (AES-256-GCM)
    pending   TEXT    NOT NULL DEFAULT '',             -- sealed
    enabled   BOOLEAN NOT NULL DEFAULT false,
    last_step BIGINT  NOT NULL DEFAULT 0
);

CREATE TABLE recovery_codes (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hash    TEXT   NOT NULL,
    PRIMARY KEY (user_id, hash)
);

CREATE TABLE nonces (
    id         TEXT        PRIMARY KEY,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX nonces_expires_at ON nonces (expires_at);

CREATE TABLE audit_events (
    id         BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time       TIMESTAMPTZ NOT NULL,
    type       TEXT        NOT NULL,
    outcome    TEXT        NOT NULL,
    user_id    BIGINT      NOT NULL DEFAULT 0,
    username   TEXT        NOT NULL DEFAULT '',
    client_ip  TEXT        NOT NULL DEFAULT '',
    user_agent TEXT        NOT NULL DEFAULT '',
    request_id TEXT        NOT NULL DEFAULT '',
    path       TEXT        NOT NULL DEFAULT '',
    detail     TEXT        NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_time ON audit_events (time);
CREATE INDEX audit_events_user ON audit_events (user_id, id);
CREATE INDEX audit_events_type ON audit_events (type, id);
