-- Asymmetric signing keys (contract §10), in the states next → current →
-- retired. The algorithm is checked by the code, as in the SQLite store.

CREATE TABLE signing_keys (
    kid          TEXT        PRIMARY KEY,            -- RFC 7638 thumbprint of the public key
    alg          TEXT        NOT NULL,               -- RS256, ES256, EdDSA
    state        TEXT        NOT NULL CHECK (state IN ('next', 'current', 'retired')),
    public_key   BYTEA       NOT NULL,               -- PKIX DER
    private_key  TEXT        NOT NULL,               -- PKCS #8 DER, sealed (AES-256-GCM) with the kid as additional data
    created_at   TIMESTAMPTZ NOT NULL,               -- published from then
    activated_at TIMESTAMPTZ,
    retired_at   TIMESTAMPTZ,
    retire_until TIMESTAMPTZ                         -- retired: published and verifying until then
);
-- At most one current and one next key per algorithm: two instances
-- initialising at once cannot both insert a current key.
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys (alg) WHERE state = 'current';
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys (alg) WHERE state = 'next';
