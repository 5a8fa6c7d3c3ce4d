-- Passkeys (WebAuthn credentials, contract §14): public keys only.

CREATE TABLE passkeys (
    id                 BLOB    PRIMARY KEY,           -- the credential id
    user_id            INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name               TEXT    NOT NULL,
    public_key         BLOB    NOT NULL,              -- COSE_Key
    sign_count         INTEGER NOT NULL DEFAULT 0,
    transports         TEXT    NOT NULL DEFAULT '',   -- space-separated
    aaguid             BLOB    NOT NULL,
    backup_eligible    INTEGER NOT NULL DEFAULT 0,
    backup_state       INTEGER NOT NULL DEFAULT 0,
    uv_initialized     INTEGER NOT NULL DEFAULT 0,
    attestation_format TEXT    NOT NULL DEFAULT '',
    created_at         INTEGER NOT NULL,
    last_used_at       INTEGER
) WITHOUT ROWID;
CREATE INDEX passkeys_user_id ON passkeys (user_id, created_at);
