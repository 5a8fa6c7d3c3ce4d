package token_test

import (
	"errors"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/token"
)

// An upgraded deployment's tokens issued before the upgrade carry the old
// issuer name ("gatehouse"): they verify under the HS256 key that signed
// them until FormerIssuerUntil, and nowhere else.
func TestFormerIssuerIsAcceptedOnlyFromItsKeyUntilItsEnd(t *testing.T) {
	clk := &clock{now: t0}
	until := time.Unix(t0+600, 0)
	legacy := keyA()
	legacy.FormerIssuer, legacy.FormerIssuerUntil = "gatehouse", until

	// What the deployment issued before the upgrade: iss "gatehouse",
	// under key A and under key B.
	old := func(k token.Key, exp int64) string {
		t.Helper()
		c := sampleClaims()
		c.Issuer, c.ExpiresAt = "gatehouse", exp
		tok, err := newManager(t, clk, k).Issue(c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	fromA, fromB := old(keyA(), t0+900), old(keyB(), t0+900)
	expired := old(keyA(), t0+100)
	rs := newManagerWith(t, clk, token.Config{Keys: []token.Key{signerKey(token.RS256)}})
	c := sampleClaims()
	c.Issuer = "gatehouse"
	fromRS, err := rs.Issue(c)
	if err != nil {
		t.Fatal(err)
	}

	// Now: RS256 signs; key A (legacy) and key B (a plain previous key)
	// verify.
	m := newManager(t, clk, signerKey(token.RS256), publicKey(token.ES256), legacy, keyB())
	if _, err := m.Verify(fromA); err != nil {
		t.Fatalf("a pre-upgrade token of the legacy key: %v", err)
	}
	if _, err := m.Verify(fromB); !errors.Is(err, token.ErrIssuer) {
		t.Fatalf("the old issuer under a key not marked legacy: %v, want ErrIssuer", err)
	}
	if _, err := m.Verify(fromRS); !errors.Is(err, token.ErrIssuer) {
		t.Fatalf("the old issuer under an RS256 key: %v, want ErrIssuer", err)
	}
	c = sampleClaims()
	c.Issuer = "someone-else"
	other, _ := newManager(t, clk, keyA()).Issue(c)
	if _, err := m.Verify(other); !errors.Is(err, token.ErrIssuer) {
		t.Fatalf("a third issuer under the legacy key: %v, want ErrIssuer", err)
	}
	// The legacy issuer changes nothing else: an expired token stays
	// expired.
	clk.now = t0 + 200
	if _, err := m.Verify(expired); !errors.Is(err, token.ErrExpired) {
		t.Fatalf("an expired legacy token: %v, want ErrExpired", err)
	}
	// New tokens of the same key carry the new issuer and verify too.
	current, err := newManager(t, clk, keyA()).Issue(sampleClaims())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Verify(current); err != nil {
		t.Fatalf("a token of the legacy key with the current issuer: %v", err)
	}
	// Past FormerIssuerUntil the old name is refused, even on a token not
	// yet expired.
	clk.now = until.Unix()
	if _, err := m.Verify(fromA); !errors.Is(err, token.ErrIssuer) {
		t.Fatalf("a legacy token after the end of the legacy window: %v, want ErrIssuer", err)
	}
	if _, err := m.Verify(current); err != nil {
		t.Fatalf("the current issuer after the legacy window: %v", err)
	}
}

func TestFormerIssuerNeedsAnHS256KeyAndAnEnd(t *testing.T) {
	for name, k := range map[string]token.Key{
		"RS256 key": {ID: "r", Signer: testKeys()[token.RS256], FormerIssuer: "gatehouse", FormerIssuerUntil: time.Unix(t0, 0)},
		"no end":    {ID: "h", Secret: secret("A"), FormerIssuer: "gatehouse"},
	} {
		if _, err := token.NewManager(token.Config{Keys: []token.Key{k}, Issuer: issuer, Audience: audience}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
