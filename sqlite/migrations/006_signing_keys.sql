-- Asymmetric signing keys (contract §10), in the states next → current →
-- retired. The algorithm is checked by the code, so that adding one needs
-- no rebuild of the table.

CREATE TABLE signing_keys (
    kid          TEXT    PRIMARY KEY,                -- RFC 7638 thumbprint of the public key
    alg          TEXT    NOT NULL,                   -- RS256, ES256, EdDSA
    state        TEXT    NOT NULL CHECK (state IN ('next', 'current', 'retired')),
    public_key   BLOB    NOT NULL,                   -- PKIX DER
    private_key  TEXT    NOT NULL,                   -- PKCS #8 DER, sealed (AES-256-GCM) with the kid as additional data
    created_at   INTEGER NOT NULL,                   -- published from then
    activated_at INTEGER,
    retired_at   INTEGER,
    retire_until INTEGER                             -- retired: published and verifying until then
);
-- At most one current and one next key per algorithm, whatever the code does.
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys (alg) WHERE state = 'current';
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys (alg) WHERE state = 'next';
