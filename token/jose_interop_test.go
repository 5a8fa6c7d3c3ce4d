package token_test

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse/gatehouse/token"
)

// go-jose (what Dex, go-oidc and Zitadel use) and PyJWT serve as
// independent implementations of the asymmetric algorithms: tokens must
// pass between them and this package.

func TestGoJoseVerifiesOurAsymmetricTokens(t *testing.T) {
	for _, alg := range asymAlgs {
		t.Run(alg, func(t *testing.T) {
			clk := &clock{t0}
			m := newManagerWith(t, clk, token.Config{Keys: []token.Key{signerKey(alg)}})
			tok, err := m.Issue(sampleClaims())
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := josejwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
			if err != nil {
				t.Fatalf("go-jose parse: %v", err)
			}
			if h := parsed.Headers[0]; h.KeyID != "sig-"+alg || h.ExtraHeaders["typ"] != "at+jwt" {
				t.Errorf("go-jose read header %+v", h)
			}
			var std josejwt.Claims
			var own struct {
				Scope string `json:"scope"`
				Sid   string `json:"sid"`
				Type  string `json:"type"`
			}
			if err := parsed.Claims(testKeys()[alg].Public(), &std, &own); err != nil {
				t.Fatalf("go-jose verify: %v", err)
			}
			err = std.ValidateWithLeeway(josejwt.Expected{Issuer: issuer, AnyAudience: josejwt.Audience{audience}, Time: clk.Now()}, 0)
			if err != nil || std.Subject != "42" || own.Scope != sampleClaims().Scope || own.Type != token.TypeAccess {
				t.Errorf("go-jose read %+v %+v: %v", std, own, err)
			}
		})
	}
}

func TestWeVerifyGoJoseTokens(t *testing.T) {
	for _, alg := range asymAlgs {
		t.Run(alg, func(t *testing.T) {
			clk := &clock{t0}
			m := newManagerWith(t, clk, token.Config{Keys: []token.Key{publicKey(alg)}})
			sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: testKeys()[alg]},
				(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", "sig-"+alg))
			if err != nil {
				t.Fatal(err)
			}
			c := sampleClaims()
			tok, err := josejwt.Signed(sig).Claims(josejwt.Claims{Issuer: issuer, Subject: c.Subject, Audience: josejwt.Audience{audience},
				Expiry: josejwt.NewNumericDate(time.Unix(c.ExpiresAt, 0)), NotBefore: josejwt.NewNumericDate(time.Unix(c.NotBefore, 0)),
				IssuedAt: josejwt.NewNumericDate(time.Unix(c.IssuedAt, 0)), ID: c.ID}).
				Claims(struct {
					Scope string `json:"scope"`
					Sid   string `json:"sid"`
					Type  string `json:"type"`
				}{c.Scope, c.SessionID, token.TypeAccess}).Serialize()
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.Verify(tok)
			if err != nil {
				t.Fatalf("Verify(go-jose token) = %v", err)
			}
			c.Issuer, c.Audience, c.Type = issuer, audience, token.TypeAccess
			if !reflect.DeepEqual(got, c) {
				t.Errorf("Verify = %+v, want %+v", got, c)
			}
		})
	}
}

// TestPyJWTVerifiesOurAsymmetricTokens runs Debian's python3-jwt (PyJWT),
// skipping when it is not installed.
func TestPyJWTVerifiesOurAsymmetricTokens(t *testing.T) {
	python := "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import jwt, cryptography").Run(); err != nil {
		t.Skip("PyJWT not installed (apt-get install python3-jwt)")
	}
	type tc struct{ Alg, Token, PEM string }
	var cases []tc
	clk := &clock{t0}
	for _, alg := range asymAlgs {
		m := newManagerWith(t, clk, token.Config{Keys: []token.Key{signerKey(alg)}})
		tok, err := m.Issue(sampleClaims())
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalPKIXPublicKey(testKeys()[alg].Public())
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, tc{alg, tok, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))})
	}
	in := filepath.Join(t.TempDir(), "cases.json")
	b, _ := json.Marshal(cases)
	if err := os.WriteFile(in, b, 0o600); err != nil {
		t.Fatal(err)
	}
	const script = `
import json, sys, jwt
for c in json.load(open(sys.argv[1])):
    claims = jwt.decode(c["Token"], c["PEM"], algorithms=[c["Alg"]], audience=sys.argv[2], issuer=sys.argv[3],
                        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False})
    h = jwt.get_unverified_header(c["Token"])
    assert h["alg"] == c["Alg"] and h["typ"] == "at+jwt", h
    assert claims["sub"] == "42" and claims["type"] == "access", claims
    print(c["Alg"], "ok")
`
	out, err := exec.Command(python, "-c", script, in, audience, issuer).CombinedOutput()
	if err != nil {
		t.Fatalf("PyJWT: %v\n%s", err, out)
	}
	if want := "RS256 ok\nES256 ok\nEdDSA ok\n"; string(out) != want {
		t.Errorf("PyJWT said %q, want %q", out, want)
	}
}
