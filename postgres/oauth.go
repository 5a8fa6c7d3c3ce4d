package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/jackc/pgx/v5"
)

// OAuth clients, authorization codes and consents (migration 009,
// contract §13).

var _ gatehouse.OAuthStore = (*DB)(nil)

const clientColumns = `id, name, secrets, public, first_party, redirect_uris, post_logout_redirect_uris, grants, scopes,
	id_token_alg, created_at, updated_at`

// storedSecret is a ClientSecret as the secrets column keeps it.
type storedSecret struct {
	Hash      string     `json:"hash"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"` // nil: no end
}

func secretsJSON(secrets []gatehouse.ClientSecret) []byte {
	out := make([]storedSecret, len(secrets))
	for i, s := range secrets {
		out[i] = storedSecret{Hash: s.Hash, CreatedAt: s.CreatedAt.UTC(), ExpiresAt: nullTime(s.ExpiresAt.UTC())}
	}
	b, _ := json.Marshal(out) // plain structs and valid times always marshal
	return b
}

func parseSecrets(b []byte) ([]gatehouse.ClientSecret, error) {
	var stored []storedSecret
	if err := json.Unmarshal(b, &stored); err != nil {
		return nil, err
	}
	var out []gatehouse.ClientSecret
	for _, s := range stored {
		out = append(out, gatehouse.ClientSecret{Hash: s.Hash, CreatedAt: s.CreatedAt, ExpiresAt: timeOrZero(s.ExpiresAt)})
	}
	return out, nil
}

// orNil reads an empty list back as nil, as the SQLite store does.
func orNil(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	return l
}

func scanClient(row pgx.CollectableRow) (*gatehouse.OAuthClient, error) {
	var (
		c       gatehouse.OAuthClient
		secrets []byte
	)
	if err := row.Scan(&c.ID, &c.Name, &secrets, &c.Public, &c.FirstParty, &c.RedirectURIs, &c.PostLogoutRedirectURIs,
		&c.Grants, &c.Scopes, &c.IDTokenAlg, &c.CreatedAt, &c.UpdatedAt); err != nil {
		return nil, err
	}
	var err error
	if c.Secrets, err = parseSecrets(secrets); err != nil {
		return nil, fmt.Errorf("decode secrets of client %q: %w", c.ID, err)
	}
	c.RedirectURIs, c.PostLogoutRedirectURIs = orNil(c.RedirectURIs), orNil(c.PostLogoutRedirectURIs)
	c.Grants, c.Scopes = orNil(c.Grants), orNil(c.Scopes)
	return &c, nil
}

// CreateClient implements gatehouse.OAuthStore.
func (db *DB) CreateClient(ctx context.Context, c *gatehouse.OAuthClient) error {
	now := db.now().UTC().Truncate(time.Microsecond)
	c.CreatedAt, c.UpdatedAt = now, now
	_, err := db.pool.Exec(ctx, `INSERT INTO oauth_clients (`+clientColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		c.ID, c.Name, secretsJSON(c.Secrets), c.Public, c.FirstParty, permissions(c.RedirectURIs), permissions(c.PostLogoutRedirectURIs),
		permissions(c.Grants), permissions(c.Scopes), c.IDTokenAlg, c.CreatedAt, c.UpdatedAt)
	err = classify(err)
	if gatehouse.ErrorCode(err) == gatehouse.ECONFLICT {
		return &gatehouse.Error{Code: gatehouse.ECONFLICT, Message: "Client id already registered", Err: err}
	}
	if err != nil {
		return fmt.Errorf("postgres: create client: %w", err)
	}
	return nil
}

// Client implements gatehouse.OAuthStore.
func (db *DB) Client(ctx context.Context, id string) (*gatehouse.OAuthClient, error) {
	rows, _ := db.pool.Query(ctx, `SELECT `+clientColumns+` FROM oauth_clients WHERE id = $1`, id)
	c, err := pgx.CollectExactlyOneRow(rows, scanClient)
	if err != nil {
		return nil, fmt.Errorf("postgres: client: %w", notFound(classify(err), "Client"))
	}
	return c, nil
}

// ListClients implements gatehouse.OAuthStore.
func (db *DB) ListClients(ctx context.Context, after string, limit int) ([]*gatehouse.OAuthClient, error) {
	// COLLATE "C": ids compare by bytes, as in SQLite, whatever the
	// database's collation.
	rows, _ := db.pool.Query(ctx, `SELECT `+clientColumns+` FROM oauth_clients WHERE id > $1 COLLATE "C" ORDER BY id COLLATE "C" LIMIT $2`,
		after, limit)
	out, err := pgx.CollectRows(rows, scanClient)
	if err != nil {
		return nil, fmt.Errorf("postgres: list clients: %w", classify(err))
	}
	return out, nil
}

// applyError carries apply's error out of the transaction unchanged.
type applyError struct{ err error }

func (e *applyError) Error() string { return e.err.Error() }

// UpdateClient implements gatehouse.OAuthStore. The row is locked as it is
// read: concurrent updates of one client take turns.
func (db *DB) UpdateClient(ctx context.Context, id string, apply func(*gatehouse.OAuthClient) error) (*gatehouse.OAuthClient, error) {
	var out *gatehouse.OAuthClient
	err := db.tx(ctx, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, `SELECT `+clientColumns+` FROM oauth_clients WHERE id = $1 FOR UPDATE`, id)
		c, err := pgx.CollectExactlyOneRow(rows, scanClient)
		if err != nil {
			return notFound(err, "Client")
		}
		if err := apply(c); err != nil {
			return &applyError{err}
		}
		c.ID = id
		c.UpdatedAt = db.now().UTC().Truncate(time.Microsecond)
		if _, err := tx.Exec(ctx, `UPDATE oauth_clients SET name = $1, secrets = $2, public = $3, first_party = $4,
			redirect_uris = $5, post_logout_redirect_uris = $6, grants = $7, scopes = $8, id_token_alg = $9, updated_at = $10 WHERE id = $11`,
			c.Name, secretsJSON(c.Secrets), c.Public, c.FirstParty, permissions(c.RedirectURIs), permissions(c.PostLogoutRedirectURIs),
			permissions(c.Grants), permissions(c.Scopes), c.IDTokenAlg, c.UpdatedAt, id); err != nil {
			return err
		}
		out = c
		return nil
	})
	if ae := (*applyError)(nil); errors.As(err, &ae) {
		return nil, ae.err
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: update client: %w", classify(err))
	}
	return out, nil
}

// DeleteClient implements gatehouse.OAuthStore. The client's codes and
// consents go by their foreign keys; its sessions stay, revoked, until
// purged.
func (db *DB) DeleteClient(ctx context.Context, id string, now, until time.Time) ([]gatehouse.Revocation, error) {
	var revs []gatehouse.Revocation
	err := db.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM oauth_clients WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return &gatehouse.Error{Code: gatehouse.ENOTFOUND, Message: "Client not found"}
		}
		rows, _ := tx.Query(ctx, `UPDATE sessions SET revoked_at = $1 WHERE client_id = $2 AND revoked_at IS NULL RETURNING id`, now, id)
		if revs, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (gatehouse.Revocation, error) {
			r := gatehouse.Revocation{Kind: gatehouse.RevokeSession, ExpiresAt: until}
			return r, row.Scan(&r.Value)
		}); err != nil {
			return err
		}
		return db.addRevocations(ctx, tx, revs)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: delete client: %w", classify(err))
	}
	return revs, nil
}

const codeColumns = `hash, client_id, user_id, browser_sid, redirect_uri, scope, nonce, code_challenge, auth_time, amr,
	created_at, expires_at, redeemed_at, issued_session`

func scanCode(row pgx.CollectableRow) (*gatehouse.AuthCode, error) {
	var (
		c              gatehouse.AuthCode
		auth, redeemed *time.Time
	)
	if err := row.Scan(&c.Hash, &c.ClientID, &c.UserID, &c.BrowserSID, &c.RedirectURI, &c.Scope, &c.Nonce, &c.CodeChallenge,
		&auth, &c.AMR, &c.CreatedAt, &c.ExpiresAt, &redeemed, &c.IssuedSession); err != nil {
		return nil, err
	}
	c.AuthTime, c.RedeemedAt = timeOrZero(auth), timeOrZero(redeemed)
	return &c, nil
}

// CreateAuthCode implements gatehouse.OAuthStore.
func (db *DB) CreateAuthCode(ctx context.Context, c *gatehouse.AuthCode) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO oauth_codes (`+codeColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		c.Hash, c.ClientID, c.UserID, c.BrowserSID, c.RedirectURI, c.Scope, c.Nonce, c.CodeChallenge,
		nullTime(c.AuthTime), c.AMR, c.CreatedAt, c.ExpiresAt, nullTime(c.RedeemedAt), c.IssuedSession)
	if err != nil {
		return fmt.Errorf("postgres: create authorization code: %w", classify(err))
	}
	return nil
}

// RedeemAuthCode implements gatehouse.OAuthStore. The code's row is locked
// as it is read, so concurrent redemptions queue: the first redeems, the
// others then read it as redeemed. The UPDATE's redeemed_at IS NULL
// condition keeps it a compare-and-set regardless.
func (db *DB) RedeemAuthCode(ctx context.Context, hash string, now time.Time, sessionID string) (*gatehouse.AuthCode, error) {
	var (
		out    *gatehouse.AuthCode
		reused bool
	)
	err := db.tx(ctx, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, `SELECT `+codeColumns+` FROM oauth_codes WHERE hash = $1 FOR UPDATE`, hash)
		c, err := pgx.CollectExactlyOneRow(rows, scanCode)
		if err != nil {
			return notFound(err, "Authorization code")
		}
		out = c
		if !c.RedeemedAt.IsZero() {
			reused = true
			return nil
		}
		tag, err := tx.Exec(ctx, `UPDATE oauth_codes SET redeemed_at = $1, issued_session = $2 WHERE hash = $3 AND redeemed_at IS NULL`,
			now, sessionID, hash)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("authorization code changed under redemption (rows=%d)", tag.RowsAffected())
		}
		c.RedeemedAt, c.IssuedSession = now.UTC().Truncate(time.Microsecond), sessionID
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: redeem authorization code: %w", classify(err))
	}
	if reused {
		return out, gatehouse.ErrCodeReused
	}
	return out, nil
}

// Consent implements gatehouse.OAuthStore.
func (db *DB) Consent(ctx context.Context, userID int64, clientID string) (*gatehouse.Consent, error) {
	c := gatehouse.Consent{UserID: userID, ClientID: clientID}
	err := db.pool.QueryRow(ctx, `SELECT scope, granted_at FROM oauth_consents WHERE user_id = $1 AND client_id = $2`,
		userID, clientID).Scan(&c.Scope, &c.GrantedAt)
	if err != nil {
		return nil, fmt.Errorf("postgres: consent: %w", notFound(classify(err), "Consent"))
	}
	return &c, nil
}

// SetConsent implements gatehouse.OAuthStore.
func (db *DB) SetConsent(ctx context.Context, c *gatehouse.Consent) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO oauth_consents (user_id, client_id, scope, granted_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id, client_id) DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at`,
		c.UserID, c.ClientID, c.Scope, c.GrantedAt)
	if err != nil {
		return fmt.Errorf("postgres: set consent: %w", classify(err))
	}
	return nil
}

// PurgeAuthCodes implements gatehouse.OAuthStore.
func (db *DB) PurgeAuthCodes(ctx context.Context, now time.Time) (int64, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM oauth_codes WHERE expires_at <= $1`, now)
	if err != nil {
		return 0, fmt.Errorf("postgres: purge authorization codes: %w", classify(err))
	}
	return tag.RowsAffected(), nil
}
