package token_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/token"
)

const (
	t0       = 1_800_000_000 // the fake clock's time, Unix seconds
	issuer   = "https://gatehouse.test"
	audience = "gatehouse-api"
)

// clock is a fake clock that tests move by hand.
type clock struct{ now int64 }

func (c *clock) Now() time.Time { return time.Unix(c.now, 0) }

func secret(seed string) []byte { return []byte(strings.Repeat(seed, 32)[:32]) }

func keyA() token.Key { return token.Key{ID: "k1", Secret: secret("A")} }
func keyB() token.Key { return token.Key{ID: "k2", Secret: secret("B")} }

func newManager(t testing.TB, clk *clock, keys ...token.Key) *token.Manager {
	t.Helper()
	if len(keys) == 0 {
		keys = []token.Key{keyA()}
	}
	m, err := token.NewManager(token.Config{Keys: keys, Issuer: issuer, Audience: audience,
		Leeway: 30 * time.Second, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func sampleClaims() token.Claims {
	return token.Claims{Subject: "42", ID: "jti-1", SessionID: "sid-1", Scope: "read:items write:items",
		IssuedAt: t0, NotBefore: t0, ExpiresAt: t0 + 900}
}

// sign returns header.payload.signature over the given segments, already
// encoded, with an HMAC-SHA256 under key — a valid signature over whatever
// the segments say, so that a refusal can only come from what they say.
func sign(key []byte, header, payload string) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(header + "." + payload))
	return header + "." + payload + "." + b64(mac.Sum(nil))
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// forge signs a header and a payload given as JSON text.
func forge(key []byte, header, payload string) string {
	return sign(key, b64([]byte(header)), b64([]byte(payload)))
}

const goodHeader = `{"alg":"HS256","kid":"k1","typ":"at+jwt"}`

// payload returns the JSON of a valid claims set with changes applied; a
// nil value removes the claim.
func payload(changes map[string]any) string {
	c := map[string]any{"iss": issuer, "aud": audience, "sub": "42", "exp": t0 + 900, "nbf": t0,
		"iat": t0, "jti": "jti-1", "sid": "sid-1", "scope": "read:items", "type": "access"}
	for k, v := range changes {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	b, err := json.Marshal(c)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestIssuedTokenVerifiesToTheSameClaims(t *testing.T) {
	m := newManager(t, &clock{t0})
	in := sampleClaims()
	tok, err := m.Issue(in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	want := in
	want.Issuer, want.Audience, want.Type = issuer, audience, token.TypeAccess
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Verify(Issue(c)) = %+v, want %+v", got, want)
	}
}

func TestIssueWritesTheRFC9068HeaderAndClaims(t *testing.T) {
	m := newManager(t, &clock{t0})
	tok, err := m.Issue(sampleClaims())
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	h, _ := base64.RawURLEncoding.DecodeString(parts[0])
	p, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if string(h) != goodHeader {
		t.Errorf("header = %s, want %s", h, goodHeader)
	}
	wantPayload := `{"iss":"https://gatehouse.test","sub":"42","aud":"gatehouse-api","exp":1800000900,` +
		`"nbf":1800000000,"iat":1800000000,"jti":"jti-1","sid":"sid-1","scope":"read:items write:items","type":"access"}`
	if string(p) != wantPayload {
		t.Errorf("payload = %s\nwant      %s", p, wantPayload)
	}
}

func TestIssueEscapesStringsThatVerifyBackUnchanged(t *testing.T) {
	m := newManager(t, &clock{t0})
	for _, sub := range []string{`"quoted"`, `back\slash`, "tab\tnewline\n\x00\x1f", "ünïcødé 😀", "</script>&", "\u2028"} {
		c := sampleClaims()
		c.Subject = sub
		tok, err := m.Issue(c)
		if err != nil {
			t.Fatalf("Issue(sub=%q): %v", sub, err)
		}
		got, err := m.Verify(tok)
		if err != nil || got.Subject != sub {
			t.Errorf("Verify(Issue(sub=%q)) = %q, %v", sub, got.Subject, err)
		}
	}
}

func TestIssueRefuses(t *testing.T) {
	m := newManager(t, &clock{t0})
	tests := []struct {
		name   string
		change func(*token.Claims)
	}{
		{"a token without exp", func(c *token.Claims) { c.ExpiresAt = 0 }},
		{"a claim that is not valid UTF-8", func(c *token.Claims) { c.Subject = "\xff" }},
		{"a token longer than 4 KiB", func(c *token.Claims) { c.Scope = strings.Repeat("x", 4096) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := sampleClaims()
			tt.change(&c)
			if tok, err := m.Issue(c); err == nil {
				t.Errorf("Issue = %q, want an error", tok)
			}
		})
	}
}

func TestVerifyChecksClaims(t *testing.T) {
	tests := []struct {
		name    string
		now     int64 // leeway is 30 s
		changes map[string]any
		want    error
	}{
		{"a fresh token is valid", t0, nil, nil},
		{"exp within the leeway is valid", t0 + 900 + 29, nil, nil},
		{"exp at the end of the leeway is expired", t0 + 900 + 30, nil, token.ErrExpired},
		{"exp long past is expired", t0 + 86400, nil, token.ErrExpired},
		{"a token without exp is refused", t0, map[string]any{"exp": nil}, token.ErrExpired},
		{"nbf within the leeway is valid", t0 - 30, map[string]any{"iat": nil}, nil},
		{"nbf beyond the leeway is not yet valid", t0 - 31, map[string]any{"iat": nil}, token.ErrNotYetValid},
		{"nbf is optional", t0, map[string]any{"nbf": nil}, nil},
		{"iat in the future within the leeway is valid", t0, map[string]any{"iat": t0 + 30}, nil},
		{"iat in the future beyond the leeway is refused", t0, map[string]any{"iat": t0 + 31}, token.ErrNotYetValid},
		{"a wrong issuer is refused", t0, map[string]any{"iss": "https://evil.test"}, token.ErrIssuer},
		{"a missing issuer is refused", t0, map[string]any{"iss": nil}, token.ErrIssuer},
		{"a wrong audience is refused", t0, map[string]any{"aud": "other-api"}, token.ErrAudience},
		{"a missing audience is refused", t0, map[string]any{"aud": nil}, token.ErrAudience},
		{"an audience array holding ours last is valid", t0, map[string]any{"aud": []string{"other", audience}}, nil},
		{"an audience array holding ours first is valid", t0, map[string]any{"aud": []string{audience, "other"}}, nil},
		{"an audience array holding ours alone is valid", t0, map[string]any{"aud": []string{audience}}, nil},
		{"an audience array without ours is refused", t0, map[string]any{"aud": []string{"other", "more"}}, token.ErrAudience},
		{"an empty audience array is refused", t0, map[string]any{"aud": []string{}}, token.ErrAudience},
		{"a refresh token is refused", t0, map[string]any{"type": "refresh"}, token.ErrWrongType},
		{"a token without type is refused", t0, map[string]any{"type": nil}, token.ErrWrongType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newManager(t, &clock{tt.now})
			c, err := m.Verify(forge(keyA().Secret, goodHeader, payload(tt.changes)))
			if !errors.Is(err, tt.want) {
				t.Errorf("Verify = %v, want %v", err, tt.want)
			}
			if err != nil && !reflect.DeepEqual(c, token.Claims{}) {
				t.Errorf("a refused token returned claims %+v", c)
			}
		})
	}
}

func TestLeewayIsCappedAtOneMinute(t *testing.T) {
	clk := &clock{t0 + 900 + 60}
	m, err := token.NewManager(token.Config{Keys: []token.Key{keyA()}, Issuer: issuer, Audience: audience,
		Leeway: time.Hour, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	tok := forge(keyA().Secret, goodHeader, payload(nil)) // exp = t0+900
	if _, err := m.Verify(tok); !errors.Is(err, token.ErrExpired) {
		t.Errorf("60 s after exp with Leeway 1h: Verify = %v, want ErrExpired", err)
	}
}

func TestVerifyChecksTheHeader(t *testing.T) {
	p := payload(nil)
	tests := []struct {
		name   string
		header string
		want   error
	}{
		{"typ at+jwt is valid", `{"alg":"HS256","kid":"k1","typ":"at+jwt"}`, nil},
		{"typ application/at+jwt is valid", `{"alg":"HS256","kid":"k1","typ":"application/at+jwt"}`, nil},
		{"typ JWT is valid", `{"typ":"JWT","alg":"HS256"}`, nil},
		{"a missing kid means the current key", `{"alg":"HS256","typ":"at+jwt"}`, nil},
		{"an unknown header parameter is refused", `{"alg":"HS256","typ":"JWT","x":[{"y":null}]}`, token.ErrMalformed},
		{"cty is refused", `{"alg":"HS256","typ":"JWT","cty":"JWT"}`, token.ErrMalformed},
		{"jku is refused", `{"alg":"HS256","typ":"JWT","jku":"https://evil.test/jwks.json"}`, token.ErrMalformed},
		{"jwk is refused", `{"alg":"HS256","typ":"JWT","jwk":{"kty":"oct","k":"QUFBQQ"}}`, token.ErrMalformed},
		{"x5u is refused", `{"alg":"HS256","typ":"JWT","x5u":"https://evil.test/cert.pem"}`, token.ErrMalformed},
		{"x5c is refused", `{"alg":"HS256","typ":"JWT","x5c":["MIIB"]}`, token.ErrMalformed},
		{"alg none is refused", `{"alg":"none","typ":"JWT"}`, token.ErrAlgorithm},
		{"alg HS384 is refused", `{"alg":"HS384","typ":"JWT"}`, token.ErrAlgorithm},
		{"alg RS256 (key confusion) is refused", `{"alg":"RS256","typ":"JWT"}`, token.ErrAlgorithm},
		{"alg in lower case is refused", `{"alg":"hs256","typ":"JWT"}`, token.ErrAlgorithm},
		{"a missing alg is refused", `{"typ":"JWT"}`, token.ErrAlgorithm},
		{"an escaped alg is refused", `{"alg":"HS\u0032\u0035\u0036","typ":"JWT"}`, token.ErrAlgorithm},
		{"alg as an array is refused", `{"alg":["HS256"],"typ":"JWT"}`, token.ErrAlgorithm},
		{"a repeated alg is refused", `{"alg":"HS256","alg":"HS256","typ":"JWT"}`, token.ErrAlgorithm},
		{"an unknown kid is refused", `{"alg":"HS256","kid":"nope","typ":"JWT"}`, token.ErrUnknownKey},
		{"a kid that is not a string is refused", `{"alg":"HS256","kid":1,"typ":"JWT"}`, token.ErrMalformed},
		{"a repeated kid is refused", `{"alg":"HS256","kid":"k1","kid":"k1","typ":"JWT"}`, token.ErrMalformed},
		{"crit is refused", `{"alg":"HS256","typ":"JWT","crit":["exp"]}`, token.ErrMalformed},
		{"typ rt+jwt is refused", `{"alg":"HS256","typ":"rt+jwt"}`, token.ErrWrongType},
		{"a missing typ is refused", `{"alg":"HS256"}`, token.ErrWrongType},
		{"a header that is not an object is refused", `["HS256"]`, token.ErrMalformed},
		{"a header with trailing data is refused", `{"alg":"HS256","typ":"JWT"}{}`, token.ErrMalformed},
		{"an empty header is refused", ``, token.ErrMalformed},
	}
	m := newManager(t, &clock{t0})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := m.Verify(forge(keyA().Secret, tt.header, p))
			if !errors.Is(err, tt.want) {
				t.Errorf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifyRefusesTokensItDidNotSign(t *testing.T) {
	m := newManager(t, &clock{t0})
	tok, err := m.Issue(sampleClaims())
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	other := strings.Replace(payload(nil), `"sub":"42"`, `"sub":"1"`, 1)
	sig := []byte(parts[2])
	sig[10] ^= 'A' ^ 'B' // a different but valid base64url character
	if sig[10] == parts[2][10] {
		t.Fatal("signature unchanged")
	}
	tests := []struct {
		name string
		tok  string
		want error
	}{
		{"a changed payload", parts[0] + "." + b64([]byte(other)) + "." + parts[2], token.ErrSignature},
		{"a changed signature", parts[0] + "." + parts[1] + "." + string(sig), token.ErrSignature},
		{"a signature under another key", forge(secret("Z"), goodHeader, payload(nil)), token.ErrSignature},
		// Nothing in the payload is read before the signature passes, so a
		// forged token learns nothing about how its claims would be judged.
		{"another key over a claims set that is not JSON", forge(secret("Z"), goodHeader, `{"exp":`), token.ErrSignature},
		{"another key over an expired refresh token", forge(secret("Z"), goodHeader,
			payload(map[string]any{"type": "refresh", "exp": t0 - 3600})), token.ErrSignature},
		{"alg none with no signature", b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + ".", token.ErrMalformed},
		{"an HS384 signature", hs384(keyA().Secret, `{"alg":"HS384","typ":"JWT"}`, payload(nil)), token.ErrAlgorithm},
		{"an HS384-long signature claiming HS256", hs384(keyA().Secret, goodHeader, payload(nil)), token.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := m.Verify(tt.tok); !errors.Is(err, tt.want) {
				t.Errorf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func hs384(key []byte, header, payload string) string {
	in := b64([]byte(header)) + "." + b64([]byte(payload))
	mac := hmac.New(sha512.New384, key)
	mac.Write([]byte(in))
	return in + "." + b64(mac.Sum(nil))
}

func TestVerifyRefusesNonCanonicalEncodings(t *testing.T) {
	m := newManager(t, &clock{t0})
	h := b64([]byte(goodHeader))
	var p string // a payload whose encoding has unused trailing bits
	for n := 0; len(p)%4 == 0; n++ {
		p = b64([]byte(payload(map[string]any{"x": strings.Repeat("a", n)})))
	}
	good := sign(keyA().Secret, h, p)
	if _, err := m.Verify(good); err != nil {
		t.Fatalf("the unaltered token: %v", err)
	}
	// Each case re-signs its altered segments, so only the encoding is wrong.
	tests := []struct {
		name string
		tok  string
	}{
		{"padding on the header", sign(keyA().Secret, h+"==", p)},
		{"padding on the payload", sign(keyA().Secret, h, pad(p))},
		{"trailing bits set in the payload", sign(keyA().Secret, h, setTrailingBits(p))},
		{"the standard alphabet", sign(keyA().Secret, h, stdAlphabet(t, `{"x":"???"}`))},
		{"a line break in the payload", sign(keyA().Secret, h, p[:10]+"\n"+p[10:])},
		{"a carriage return in the signature", good[:len(good)-5] + "\r" + good[len(good)-5:]},
		{"padding on the signature", good + "="},
		{"trailing bits set in the signature", setTrailingBits(good)},
		{"a space", sign(keyA().Secret, h, " "+p)},
		{"two parts", h + "." + p},
		{"four parts", good + ".x"},
		{"an empty token", ""},
		{"dots only", ".."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := m.Verify(tt.tok); !errors.Is(err, token.ErrMalformed) {
				t.Errorf("Verify(%q) = %v, want ErrMalformed", tt.tok, err)
			}
		})
	}
}

// pad adds the '=' padding that RFC 7515 §2 forbids.
func pad(s string) string { return s + strings.Repeat("=", (4-len(s)%4)%4) }

// setTrailingBits sets an unused low bit in the last character of s, which
// a lax decoder ignores. s's length must not be a multiple of 4.
func setTrailingBits(s string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	if len(s)%4 == 0 {
		panic("no trailing bits")
	}
	last := strings.IndexByte(alphabet, s[len(s)-1])
	return s[:len(s)-1] + string(alphabet[last|1])
}

// stdAlphabet encodes json with the standard alphabet and checks that it
// holds a '+' or '/', which base64url forbids.
func stdAlphabet(t *testing.T, json string) string {
	s := base64.RawStdEncoding.EncodeToString([]byte(json))
	if !strings.ContainsAny(s, "+/") {
		t.Fatalf("%s encodes without + or /", json)
	}
	return s
}

func TestVerifyCapsTheTokenSize(t *testing.T) {
	m := newManager(t, &clock{t0})
	var fits, over string
	for n := 0; over == ""; n++ {
		tok := forge(keyA().Secret, goodHeader, payload(map[string]any{"pad": strings.Repeat("x", 2800+n)}))
		if len(tok) <= 4096 {
			fits = tok
		} else {
			over = tok
		}
	}
	if _, err := m.Verify(fits); err != nil {
		t.Errorf("a %d-byte token: %v", len(fits), err)
	}
	if _, err := m.Verify(over); !errors.Is(err, token.ErrMalformed) {
		t.Errorf("a %d-byte token: %v, want ErrMalformed", len(over), err)
	}
}

func TestVerifyReadsClaimsStrictly(t *testing.T) {
	const rest = `"iss":"https://gatehouse.test","aud":"gatehouse-api","type":"access"`
	tests := []struct {
		name    string
		payload string
		want    error
		sub     string
	}{
		{"escapes in a value are decoded", `{"sub":"4\u0032 \ud83d\ude00 \"\\\/\n","exp":1800000900,` + rest + `}`, nil, "42 😀 \"\\/\n"},
		{"whitespace between tokens is allowed", " {\t\"sub\" : \"42\" ,\r\n\"exp\":1800000900, " + rest + " } \n", nil, "42"},
		{"nested unknown claims are skipped", `{"x":{"y":[1,-2.5e+3,true,false,null,{"z":"\u00e9"}]},"sub":"42","exp":1800000900,` + rest + `}`, nil, "42"},
		{"a repeated unknown claim is allowed", `{"x":1,"x":2,"sub":"42","exp":1800000900,` + rest + `}`, nil, "42"},
		{"a repeated exp is refused", `{"exp":1800000900,"exp":1900000000,` + rest + `}`, token.ErrMalformed, ""},
		{"a repeated sub is refused", `{"sub":"1","sub":"42","exp":1800000900,` + rest + `}`, token.ErrMalformed, ""},
		{"a repeated type is refused", `{"exp":1800000900,` + rest + `,"type":"access"}`, token.ErrMalformed, ""},
		{"an escaped claim name is refused", `{"\u0065xp":1800000900,` + rest + `}`, token.ErrMalformed, ""},
		{"exp as a string is refused", `{"exp":"1800000900",` + rest + `}`, token.ErrMalformed, ""},
		{"exp with a fraction is refused", `{"exp":1800000900.5,` + rest + `}`, token.ErrMalformed, ""},
		{"exp with an exponent is refused", `{"exp":18e8,` + rest + `}`, token.ErrMalformed, ""},
		{"a negative exp is refused", `{"exp":-1,` + rest + `}`, token.ErrMalformed, ""},
		{"exp with a leading zero is refused", `{"exp":01800000900,` + rest + `}`, token.ErrMalformed, ""},
		{"an exp that overflows is refused", `{"exp":99999999999999999999,` + rest + `}`, token.ErrMalformed, ""},
		{"sub as a number is refused", `{"sub":42,"exp":1800000900,` + rest + `}`, token.ErrMalformed, ""},
		{"sub as null is refused", `{"sub":null,"exp":1800000900,` + rest + `}`, token.ErrMalformed, ""},
		{"aud as a number is refused", `{"exp":1800000900,"aud":1,"iss":"https://gatehouse.test","type":"access"}`, token.ErrMalformed, ""},
		{"an aud array with a number is refused", `{"exp":1800000900,"aud":["gatehouse-api",1],"iss":"https://gatehouse.test","type":"access"}`, token.ErrMalformed, ""},
		{"invalid UTF-8 is refused", "{\"sub\":\"\xff\",\"exp\":1800000900," + rest + "}", token.ErrMalformed, ""},
		{"a lone surrogate is refused", `{"sub":"\ud800","exp":1800000900,` + rest + `}`, token.ErrMalformed, ""},
		{"a raw control character is refused", "{\"sub\":\"a\tb\",\"exp\":1800000900," + rest + "}", token.ErrMalformed, ""},
		{"a bad escape is refused", `{"sub":"\x41","exp":1800000900,` + rest + `}`, token.ErrMalformed, ""},
		{"trailing data is refused", `{"exp":1800000900,` + rest + `}x`, token.ErrMalformed, ""},
		{"a second object is refused", `{"exp":1800000900,` + rest + `}{}`, token.ErrMalformed, ""},
		{"a trailing comma is refused", `{"exp":1800000900,` + rest + `,}`, token.ErrMalformed, ""},
		{"a missing comma is refused", `{"exp":1800000900 ` + rest + `}`, token.ErrMalformed, ""},
		{"an unterminated object is refused", `{"exp":1800000900,` + rest, token.ErrMalformed, ""},
		{"an array is refused", `[{"exp":1800000900,` + rest + `}]`, token.ErrMalformed, ""},
		{"deep nesting is refused", `{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `,"exp":1800000900,` + rest + `}`, token.ErrMalformed, ""},
		{"a bad literal is refused", `{"x":nul,"exp":1800000900,` + rest + `}`, token.ErrMalformed, ""},
	}
	m := newManager(t, &clock{t0})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := m.Verify(forge(keyA().Secret, goodHeader, tt.payload))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
			if c.Subject != tt.sub {
				t.Errorf("Subject = %q, want %q", c.Subject, tt.sub)
			}
		})
	}
}

func TestKeyRotation(t *testing.T) {
	clk := &clock{t0}
	oldOnly := newManager(t, clk, keyA())
	rotated := newManager(t, clk, keyB(), keyA()) // k2 signs, k1 still verifies
	tokOld, err := oldOnly.Issue(sampleClaims())
	if err != nil {
		t.Fatal(err)
	}
	tokNew, err := rotated.Issue(sampleClaims())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rotated.Verify(tokOld); err != nil {
		t.Errorf("a token of the previous key: %v", err)
	}
	if _, err := rotated.Verify(tokNew); err != nil {
		t.Errorf("a token of the current key: %v", err)
	}
	if _, err := oldOnly.Verify(tokNew); !errors.Is(err, token.ErrUnknownKey) {
		t.Errorf("a token of a key not configured: %v, want ErrUnknownKey", err)
	}
	noKid := forge(keyA().Secret, `{"alg":"HS256","typ":"JWT"}`, payload(nil))
	if _, err := rotated.Verify(noKid); !errors.Is(err, token.ErrSignature) {
		t.Errorf("no kid, signed by the previous key: %v, want ErrSignature (no kid means the current key)", err)
	}
	impostor := forge(secret("Z"), `{"alg":"HS256","kid":"k1","typ":"JWT"}`, payload(nil))
	if _, err := rotated.Verify(impostor); !errors.Is(err, token.ErrSignature) {
		t.Errorf("kid k1 under another secret: %v, want ErrSignature", err)
	}
}

func TestNewManagerRefusesUnsafeConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  token.Config
	}{
		{"no keys", token.Config{Issuer: issuer, Audience: audience}},
		{"a secret under 32 bytes", token.Config{Keys: []token.Key{{ID: "k", Secret: secret("A")[:31]}}, Issuer: issuer, Audience: audience}},
		{"an empty key id", token.Config{Keys: []token.Key{{Secret: secret("A")}}, Issuer: issuer, Audience: audience}},
		{"a key id that needs escaping", token.Config{Keys: []token.Key{{ID: `k"1`, Secret: secret("A")}}, Issuer: issuer, Audience: audience}},
		{"a repeated key id", token.Config{Keys: []token.Key{keyA(), {ID: keyA().ID, Secret: secret("C")}}, Issuer: issuer, Audience: audience}},
		{"no issuer", token.Config{Keys: []token.Key{keyA()}, Audience: audience}},
		{"no audience", token.Config{Keys: []token.Key{keyA()}, Issuer: issuer}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := token.NewManager(tt.cfg); err == nil {
				t.Error("NewManager succeeded, want an error")
			}
		})
	}
}

func TestManagerKeepsItsOwnCopyOfTheSecret(t *testing.T) {
	s := secret("A")
	m := newManager(t, &clock{t0}, token.Key{ID: "k1", Secret: s})
	tok, err := m.Issue(sampleClaims())
	if err != nil {
		t.Fatal(err)
	}
	s[0] ^= 1
	if _, err := m.Verify(tok); err != nil {
		t.Errorf("after the caller changed its slice: %v", err)
	}
}

func TestSecretsAreNeverPrinted(t *testing.T) {
	s := []byte("correct-horse-battery-staple-0123456789")
	k := token.Key{ID: "k1", Secret: s}
	short := token.Key{ID: "k1", Secret: s[:20]}
	m := newManager(t, &clock{t0}, k)
	_, errShort := token.NewManager(token.Config{Keys: []token.Key{short}, Issuer: issuer, Audience: audience})
	renderings := []string{string(s), fmt.Sprint(s), fmt.Sprintf("%x", s), fmt.Sprintf("%X", s), b64(s),
		string(s[:20]), fmt.Sprint(s[:20]), fmt.Sprintf("%x", s[:20])}
	var outputs []string
	for _, v := range []any{k, &k, short, token.Config{Keys: []token.Key{k}}, m} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
			outputs = append(outputs, fmt.Sprintf(verb, v))
		}
	}
	outputs = append(outputs, k.String(), k.GoString(), m.String(), errShort.Error())
	for _, out := range outputs {
		for _, r := range renderings {
			if strings.Contains(out, r) {
				t.Errorf("%q shows the secret", out)
			}
		}
	}
}

func TestNewIDIsUniqueAnd128Bits(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := token.NewID()
		b, err := base64.RawURLEncoding.Strict().DecodeString(id)
		if err != nil || len(b) != 16 {
			t.Fatalf("NewID() = %q: %d bytes, %v", id, len(b), err)
		}
		if seen[id] {
			t.Fatalf("NewID() repeated %q", id)
		}
		seen[id] = true
	}
}

func TestKeysFromSecretsNamesEachSecretAndSignsWithTheFirst(t *testing.T) {
	a, b := []byte(strings.Repeat("a", 32)), []byte(strings.Repeat("b", 32))
	keys := token.KeysFromSecrets(a, [][]byte{b, a})
	if len(keys) != 2 || string(keys[0].Secret) != string(a) || string(keys[1].Secret) != string(b) {
		t.Fatalf("keys %v: want a (signing), then b; a repeated among the previous is dropped", keys)
	}
	if keys[0].ID == keys[1].ID || keys[0].ID != token.KeyID(a) || len(keys[0].ID) != 11 {
		t.Fatalf("ids %q and %q", keys[0].ID, keys[1].ID)
	}
	if token.KeyID(a) != token.KeyID(append([]byte(nil), a...)) {
		t.Fatal("KeyID is not a function of the secret alone")
	}
}
