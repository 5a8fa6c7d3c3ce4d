-- OAuth 2.1 and OpenID Connect (contract §13): registered clients, their
-- authorization codes and the consents users gave, and the client a
-- session was opened for.

-- A session's kind may now be 'oauth'. The check of migration 008 was
-- declared on the column, so its name is PostgreSQL's choice: every check
-- of the table that reads the kind is replaced.
DO $$
DECLARE c text;
BEGIN
    FOR c IN SELECT conname FROM pg_constraint
        WHERE conrelid = 'sessions'::regclass AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%kind%'
    LOOP
        EXECUTE format('ALTER TABLE sessions DROP CONSTRAINT %I', c);
    END LOOP;
END $$;
ALTER TABLE sessions ADD CONSTRAINT sessions_kind_check CHECK (kind IN ('token', 'browser', 'oauth'));
-- The OAuth client of a kind 'oauth' session. No foreign key: a deleted
-- client's sessions stay, revoked, until purged.
ALTER TABLE sessions ADD COLUMN client_id TEXT NOT NULL DEFAULT '';
CREATE INDEX sessions_client_id ON sessions (client_id);

CREATE TABLE oauth_clients (
    id                        TEXT        PRIMARY KEY,             -- client_id, [A-Za-z0-9_-]
    name                      TEXT        NOT NULL,
    secrets                   JSONB       NOT NULL DEFAULT '[]',   -- [{"hash", "created_at", "expires_at"}]: hashes only
    public                    BOOLEAN     NOT NULL DEFAULT false,
    first_party               BOOLEAN     NOT NULL DEFAULT false,
    redirect_uris             TEXT[]      NOT NULL DEFAULT '{}',
    post_logout_redirect_uris TEXT[]      NOT NULL DEFAULT '{}',
    grants                    TEXT[]      NOT NULL DEFAULT '{}',
    scopes                    TEXT[]      NOT NULL DEFAULT '{}',
    id_token_alg              TEXT        NOT NULL DEFAULT '',
    created_at                TIMESTAMPTZ NOT NULL,
    updated_at                TIMESTAMPTZ NOT NULL
);

CREATE TABLE oauth_codes (
    hash           TEXT        PRIMARY KEY,                        -- hex SHA-256 of the code
    client_id      TEXT        NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    user_id        BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    browser_sid    TEXT        NOT NULL DEFAULT '',
    redirect_uri   TEXT        NOT NULL,
    scope          TEXT        NOT NULL,
    nonce          TEXT        NOT NULL DEFAULT '',
    code_challenge TEXT        NOT NULL,
    auth_time      TIMESTAMPTZ,
    amr            TEXT        NOT NULL DEFAULT '',
    created_at     TIMESTAMPTZ NOT NULL,
    expires_at     TIMESTAMPTZ NOT NULL,
    redeemed_at    TIMESTAMPTZ,
    issued_session TEXT        NOT NULL DEFAULT ''
);
CREATE INDEX oauth_codes_expires_at ON oauth_codes (expires_at);
CREATE INDEX oauth_codes_client_id ON oauth_codes (client_id);
CREATE INDEX oauth_codes_user_id ON oauth_codes (user_id);

CREATE TABLE oauth_consents (
    user_id    BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT        NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    scope      TEXT        NOT NULL,
    granted_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
CREATE INDEX oauth_consents_client_id ON oauth_consents (client_id);
