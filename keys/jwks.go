package keys

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-jose/go-jose/v4"
)

// encodeJWKS returns the JSON Web Key Set (RFC 7517 §5) of keys — public
// parts only, each with kid, kty, alg and use "sig" — and its strong ETag.
func encodeJWKS(keys []Key) ([]byte, string, error) {
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(keys))}
	for _, k := range keys {
		jwk := jose.JSONWebKey{Key: k.Public, KeyID: k.ID, Algorithm: k.Algorithm, Use: "sig"}
		if !jwk.IsPublic() || !jwk.Valid() {
			return nil, "", fmt.Errorf("keys: key %s is not a valid public key", k.ID)
		}
		set.Keys = append(set.Keys, jwk)
	}
	b, err := json.Marshal(set)
	if err != nil {
		return nil, "", fmt.Errorf("keys: encode key set: %w", err)
	}
	sum := sha256.Sum256(b)
	return b, `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`, nil
}

// JWKS returns the key set in force as a JSON Web Key Set, nil before the
// first Refresh.
func (s *Set) JWKS() []byte {
	if s == nil {
		return nil
	}
	return s.jwks
}

// Handler serves the key set in force at /.well-known/jwks.json (contract
// §10): every key clients may meet — current, next (before it signs) and
// retired keys whose tokens may be live — public parts only, cacheable for
// Config.MaxAge, with an ETag so that a revalidation costs a 304. Before the
// first Refresh it answers 503.
func (m *Manager) Handler() http.Handler {
	maxAge := "public, max-age=" + strconv.FormatInt(int64(m.cfg.MaxAge.Seconds()), 10)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		set := m.set.Load()
		h := w.Header()
		if set == nil {
			h.Set("Content-Type", "application/json")
			h.Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"detail":"Signing keys not loaded yet"}`))
			return
		}
		h.Set("Cache-Control", maxAge)
		h.Set("ETag", set.etag)
		if etagMatch(r.Header.Get("If-None-Match"), set.etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(len(set.jwks)))
		if r.Method != http.MethodHead {
			w.Write(set.jwks)
		}
	})
}

// etagMatch reports whether an If-None-Match value names etag (RFC 9110
// §13.1.2: weak comparison, or "*").
func etagMatch(header, etag string) bool {
	for _, v := range strings.Split(header, ",") {
		v = strings.TrimPrefix(strings.TrimSpace(v), "W/")
		if v == etag || v == "*" {
			return true
		}
	}
	return false
}
