package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse"
)

// OAuth clients, authorization codes and consents (migration 009,
// contract §13).

var _ gatehouse.OAuthStore = (*DB)(nil)

const clientColumns = `id, name, secrets, public, first_party, redirect_uris, post_logout_redirect_uris, grants, scopes,
	id_token_alg, created_at, updated_at`

// storedSecret is a ClientSecret as the secrets column keeps it.
type storedSecret struct {
	Hash      string `json:"hash"`
	CreatedAt int64  `json:"created_at"`           // microseconds
	ExpiresAt int64  `json:"expires_at,omitempty"` // microseconds; 0: no end
}

func secretsJSON(secrets []gatehouse.ClientSecret) string {
	out := make([]storedSecret, len(secrets))
	for i, s := range secrets {
		out[i] = storedSecret{Hash: s.Hash, CreatedAt: micros(s.CreatedAt)}
		if !s.ExpiresAt.IsZero() {
			out[i].ExpiresAt = micros(s.ExpiresAt)
		}
	}
	b, _ := json.Marshal(out) // plain structs always marshal
	return string(b)
}

func parseSecrets(s string) ([]gatehouse.ClientSecret, error) {
	var stored []storedSecret
	if err := json.Unmarshal([]byte(s), &stored); err != nil {
		return nil, err
	}
	var out []gatehouse.ClientSecret
	for _, s := range stored {
		cs := gatehouse.ClientSecret{Hash: s.Hash, CreatedAt: fromMicros(s.CreatedAt)}
		if s.ExpiresAt != 0 {
			cs.ExpiresAt = fromMicros(s.ExpiresAt)
		}
		out = append(out, cs)
	}
	return out, nil
}

// listJSON and parseList store a list of strings as a JSON array; nil and
// empty read back as nil.
func listJSON(l []string) string { return permissionsJSON(l) }

func parseList(s string) ([]string, error) {
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, err
	}
	if len(l) == 0 {
		return nil, nil
	}
	return l, nil
}

func scanClient(sc scanner) (*gatehouse.OAuthClient, error) {
	var (
		c                                   gatehouse.OAuthClient
		secrets, redirects, logouts, grants string
		scopes                              string
		created, updated                    int64
	)
	if err := sc.Scan(&c.ID, &c.Name, &secrets, &c.Public, &c.FirstParty, &redirects, &logouts, &grants, &scopes,
		&c.IDTokenAlg, &created, &updated); err != nil {
		return nil, err
	}
	var errs [5]error
	c.Secrets, errs[0] = parseSecrets(secrets)
	c.RedirectURIs, errs[1] = parseList(redirects)
	c.PostLogoutRedirectURIs, errs[2] = parseList(logouts)
	c.Grants, errs[3] = parseList(grants)
	c.Scopes, errs[4] = parseList(scopes)
	if err := errors.Join(errs[:]...); err != nil {
		return nil, fmt.Errorf("decode client %q: %w", c.ID, err)
	}
	c.CreatedAt, c.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &c, nil
}

// clientArgs are the values of clientColumns for c.
func clientArgs(c *gatehouse.OAuthClient) []any {
	return []any{c.ID, c.Name, secretsJSON(c.Secrets), c.Public, c.FirstParty, listJSON(c.RedirectURIs),
		listJSON(c.PostLogoutRedirectURIs), listJSON(c.Grants), listJSON(c.Scopes), c.IDTokenAlg,
		micros(c.CreatedAt), micros(c.UpdatedAt)}
}

// CreateClient implements gatehouse.OAuthStore.
func (db *DB) CreateClient(ctx context.Context, c *gatehouse.OAuthClient) error {
	now := db.now().UTC().Truncate(time.Microsecond)
	c.CreatedAt, c.UpdatedAt = now, now
	err := db.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO oauth_clients (`+clientColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			clientArgs(c)...)
		return err
	})
	if gatehouse.ErrorCode(err) == gatehouse.ECONFLICT {
		return &gatehouse.Error{Code: gatehouse.ECONFLICT, Message: "Client id already registered", Err: err}
	}
	if err != nil {
		return fmt.Errorf("sqlite: create client: %w", db.classify(err))
	}
	return nil
}

// Client implements gatehouse.OAuthStore.
func (db *DB) Client(ctx context.Context, id string) (*gatehouse.OAuthClient, error) {
	c, err := scanClient(db.read.QueryRowContext(ctx, `SELECT `+clientColumns+` FROM oauth_clients WHERE id = ?`, id))
	if err != nil {
		return nil, fmt.Errorf("sqlite: client: %w", notFound(db.classify(err), "Client"))
	}
	return c, nil
}

// ListClients implements gatehouse.OAuthStore.
func (db *DB) ListClients(ctx context.Context, after string, limit int) ([]*gatehouse.OAuthClient, error) {
	return queryAll(ctx, db, "list clients", scanClient, `SELECT `+clientColumns+` FROM oauth_clients WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
}

// applyError carries apply's error out of the transaction unchanged.
type applyError struct{ err error }

func (e *applyError) Error() string { return e.err.Error() }

// UpdateClient implements gatehouse.OAuthStore.
func (db *DB) UpdateClient(ctx context.Context, id string, apply func(*gatehouse.OAuthClient) error) (*gatehouse.OAuthClient, error) {
	var out *gatehouse.OAuthClient
	err := db.tx(ctx, func(tx *sql.Tx) error {
		c, err := scanClient(tx.QueryRowContext(ctx, `SELECT `+clientColumns+` FROM oauth_clients WHERE id = ?`, id))
		if err != nil {
			return notFound(err, "Client")
		}
		if err := apply(c); err != nil {
			return &applyError{err}
		}
		c.ID = id
		c.UpdatedAt = db.now().UTC().Truncate(time.Microsecond)
		if _, err := tx.ExecContext(ctx, `UPDATE oauth_clients SET name = ?, secrets = ?, public = ?, first_party = ?,
			redirect_uris = ?, post_logout_redirect_uris = ?, grants = ?, scopes = ?, id_token_alg = ?, updated_at = ? WHERE id = ?`,
			c.Name, secretsJSON(c.Secrets), c.Public, c.FirstParty, listJSON(c.RedirectURIs), listJSON(c.PostLogoutRedirectURIs),
			listJSON(c.Grants), listJSON(c.Scopes), c.IDTokenAlg, micros(c.UpdatedAt), id); err != nil {
			return err
		}
		out = c
		return nil
	})
	if ae := (*applyError)(nil); errors.As(err, &ae) {
		return nil, ae.err
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: update client: %w", db.classify(err))
	}
	return out, nil
}

// DeleteClient implements gatehouse.OAuthStore. The client's codes and
// consents go by their foreign keys; its sessions stay, revoked, until
// purged.
func (db *DB) DeleteClient(ctx context.Context, id string, now, until time.Time) ([]gatehouse.Revocation, error) {
	var revs []gatehouse.Revocation
	err := db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM oauth_clients WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return &gatehouse.Error{Code: gatehouse.ENOTFOUND, Message: "Client not found"}
		}
		rows, err := tx.QueryContext(ctx, `UPDATE sessions SET revoked_at = ? WHERE client_id = ? AND revoked_at IS NULL RETURNING id`,
			micros(now), id)
		if err != nil {
			return err
		}
		for rows.Next() {
			var sid string
			if err := rows.Scan(&sid); err != nil {
				rows.Close()
				return err
			}
			revs = append(revs, gatehouse.Revocation{Kind: gatehouse.RevokeSession, Value: sid, ExpiresAt: until})
		}
		if err := rows.Close(); err != nil {
			return err
		}
		return db.addRevocations(ctx, tx, revs)
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: delete client: %w", db.classify(err))
	}
	return revs, nil
}

const codeColumns = `hash, client_id, user_id, browser_sid, redirect_uri, scope, nonce, code_challenge, auth_time, amr,
	created_at, expires_at, redeemed_at, issued_session`

func scanCode(sc scanner) (*gatehouse.AuthCode, error) {
	var (
		c                gatehouse.AuthCode
		auth, redeemed   sql.NullInt64
		created, expires int64
	)
	if err := sc.Scan(&c.Hash, &c.ClientID, &c.UserID, &c.BrowserSID, &c.RedirectURI, &c.Scope, &c.Nonce, &c.CodeChallenge,
		&auth, &c.AMR, &created, &expires, &redeemed, &c.IssuedSession); err != nil {
		return nil, err
	}
	c.AuthTime, c.RedeemedAt = fromNullMicros(auth), fromNullMicros(redeemed)
	c.CreatedAt, c.ExpiresAt = fromMicros(created), fromMicros(expires)
	return &c, nil
}

// CreateAuthCode implements gatehouse.OAuthStore.
func (db *DB) CreateAuthCode(ctx context.Context, c *gatehouse.AuthCode) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO oauth_codes (`+codeColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.Hash, c.ClientID, c.UserID, c.BrowserSID, c.RedirectURI, c.Scope, c.Nonce, c.CodeChallenge,
			nullMicros(c.AuthTime), c.AMR, micros(c.CreatedAt), micros(c.ExpiresAt), nullMicros(c.RedeemedAt), c.IssuedSession)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: create authorization code: %w", db.classify(err))
	}
	return nil
}

// RedeemAuthCode implements gatehouse.OAuthStore. The write connection
// serialises redemptions; the UPDATE's redeemed_at IS NULL condition makes
// it a compare-and-set besides.
func (db *DB) RedeemAuthCode(ctx context.Context, hash string, now time.Time, sessionID string) (*gatehouse.AuthCode, error) {
	var (
		out    *gatehouse.AuthCode
		reused bool
	)
	err := db.tx(ctx, func(tx *sql.Tx) error {
		c, err := scanCode(tx.QueryRowContext(ctx, `SELECT `+codeColumns+` FROM oauth_codes WHERE hash = ?`, hash))
		if err != nil {
			return notFound(err, "Authorization code")
		}
		out = c
		if !c.RedeemedAt.IsZero() {
			reused = true
			return nil
		}
		res, err := tx.ExecContext(ctx, `UPDATE oauth_codes SET redeemed_at = ?, issued_session = ? WHERE hash = ? AND redeemed_at IS NULL`,
			micros(now), sessionID, hash)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return fmt.Errorf("authorization code changed under redemption (rows=%d)", n)
		}
		c.RedeemedAt, c.IssuedSession = now.UTC().Truncate(time.Microsecond), sessionID
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: redeem authorization code: %w", db.classify(err))
	}
	if reused {
		return out, gatehouse.ErrCodeReused
	}
	return out, nil
}

// Consent implements gatehouse.OAuthStore.
func (db *DB) Consent(ctx context.Context, userID int64, clientID string) (*gatehouse.Consent, error) {
	var (
		c       = gatehouse.Consent{UserID: userID, ClientID: clientID}
		granted int64
	)
	err := db.read.QueryRowContext(ctx, `SELECT scope, granted_at FROM oauth_consents WHERE user_id = ? AND client_id = ?`,
		userID, clientID).Scan(&c.Scope, &granted)
	if err != nil {
		return nil, fmt.Errorf("sqlite: consent: %w", notFound(db.classify(err), "Consent"))
	}
	c.GrantedAt = fromMicros(granted)
	return &c, nil
}

// SetConsent implements gatehouse.OAuthStore.
func (db *DB) SetConsent(ctx context.Context, c *gatehouse.Consent) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO oauth_consents (user_id, client_id, scope, granted_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (user_id, client_id) DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at`,
			c.UserID, c.ClientID, c.Scope, micros(c.GrantedAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: set consent: %w", db.classify(err))
	}
	return nil
}

// PurgeAuthCodes implements gatehouse.OAuthStore.
func (db *DB) PurgeAuthCodes(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM oauth_codes WHERE expires_at <= ?`, micros(now))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: purge authorization codes: %w", db.classify(err))
	}
	return n, nil
}
