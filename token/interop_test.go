package token_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse/gatehouse/token"
)

// golang-jwt/v5 serves as an independent implementation: tokens must pass
// between it and this package in both directions.

// jwtClaims is our claims set in golang-jwt's typed form.
type jwtClaims struct {
	jwt.RegisteredClaims
	Scope     string `json:"scope,omitempty"`
	SessionID string `json:"sid,omitempty"`
	Type      string `json:"type,omitempty"`
}

func jwtParser(clk *clock) *jwt.Parser {
	return jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithIssuer(issuer),
		jwt.WithAudience(audience), jwt.WithExpirationRequired(), jwt.WithIssuedAt(),
		jwt.WithTimeFunc(clk.Now))
}

func TestGolangJWTVerifiesOurTokens(t *testing.T) {
	clk := &clock{t0}
	m := newManager(t, clk)
	tok, err := m.Issue(sampleClaims())
	if err != nil {
		t.Fatal(err)
	}
	var got jwtClaims
	parsed, err := jwtParser(clk).ParseWithClaims(tok, &got, func(tk *jwt.Token) (any, error) {
		if tk.Header["kid"] != keyA().ID || tk.Header["typ"] != "at+jwt" {
			t.Errorf("header = %v", tk.Header)
		}
		return keyA().Secret, nil
	})
	if err != nil {
		t.Fatalf("golang-jwt: %v", err)
	}
	if !parsed.Valid {
		t.Fatal("golang-jwt: token not valid")
	}
	want := sampleClaims()
	if got.Subject != want.Subject || got.ID != want.ID || got.SessionID != want.SessionID ||
		got.Scope != want.Scope || got.Type != token.TypeAccess || got.Issuer != issuer ||
		got.ExpiresAt.Unix() != want.ExpiresAt || got.NotBefore.Unix() != want.NotBefore ||
		got.IssuedAt.Unix() != want.IssuedAt {
		t.Errorf("golang-jwt read %+v", got)
	}
}

func TestWeVerifyGolangJWTTokens(t *testing.T) {
	clk := &clock{t0}
	m := newManager(t, clk)
	want := sampleClaims()
	for _, kid := range []string{"k1", ""} {
		tok := golangJWTToken(t, kid, want)
		got, err := m.Verify(tok)
		if err != nil {
			t.Fatalf("kid %q: %v", kid, err)
		}
		want.Issuer, want.Audience, want.Type = issuer, audience, token.TypeAccess
		if !reflect.DeepEqual(got, want) {
			t.Errorf("kid %q: Verify = %+v, want %+v", kid, got, want)
		}
	}
}

// golangJWTToken signs c with golang-jwt under keyA, with header typ "JWT"
// and, by golang-jwt's default, aud as an array.
func golangJWTToken(t testing.TB, kid string, c token.Claims) string {
	t.Helper()
	tk := jwt.NewWithClaims(jwt.SigningMethodHS256, jwtClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: issuer, Subject: c.Subject, Audience: jwt.ClaimStrings{audience}, ID: c.ID,
			ExpiresAt: jwt.NewNumericDate(time.Unix(c.ExpiresAt, 0)),
			NotBefore: jwt.NewNumericDate(time.Unix(c.NotBefore, 0)),
			IssuedAt:  jwt.NewNumericDate(time.Unix(c.IssuedAt, 0)),
		},
		Scope: c.Scope, SessionID: c.SessionID, Type: token.TypeAccess,
	})
	if kid != "" {
		tk.Header["kid"] = kid
	}
	s, err := tk.SignedString(keyA().Secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
