-- Passkeys (WebAuthn credentials, contract §14): public keys only.

CREATE TABLE passkeys (
    id                 BYTEA       PRIMARY KEY,           -- the credential id
    user_id            BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name               TEXT        NOT NULL,
    public_key         BYTEA       NOT NULL,              -- COSE_Key
    sign_count         BIGINT      NOT NULL DEFAULT 0,    -- an unsigned 32-bit counter
    transports         TEXT        NOT NULL DEFAULT '',   -- space-separated
    aaguid             BYTEA       NOT NULL,
    backup_eligible    BOOLEAN     NOT NULL DEFAULT false,
    backup_state       BOOLEAN     NOT NULL DEFAULT false,
    uv_initialized     BOOLEAN     NOT NULL DEFAULT false,
    attestation_format TEXT        NOT NULL DEFAULT '',
    created_at         TIMESTAMPTZ NOT NULL,
    last_used_at       TIMESTAMPTZ
);
CREATE INDEX passkeys_user_id ON passkeys (user_id, created_at);
