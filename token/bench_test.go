package token_test

import (
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse/gatehouse/token"
)

// The benchmarks verify one realistic token; the golang-jwt ones are the
// baseline, with the same checks (HS256 only, iss, aud, exp required, iat).

func benchSetup(b *testing.B) (*clock, *token.Manager, string) {
	clk := &clock{t0}
	m := newManager(b, clk)
	c := sampleClaims()
	c.Subject, c.ID, c.SessionID = "123456", token.NewID(), token.NewID()
	tok, err := m.Issue(c)
	if err != nil {
		b.Fatal(err)
	}
	return clk, m, tok
}

func BenchmarkVerify(b *testing.B) {
	_, m, tok := benchSetup(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyParallel(b *testing.B) {
	_, m, tok := benchSetup(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := m.Verify(tok); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkIssue(b *testing.B) {
	_, m, _ := benchSetup(b)
	c := sampleClaims()
	c.Subject, c.ID, c.SessionID = "123456", token.NewID(), token.NewID()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Issue(c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGolangJWTMapClaims(b *testing.B) {
	clk, _, tok := benchSetup(b)
	p := jwtParser(clk)
	key := func(*jwt.Token) (any, error) { return keyA().Secret, nil }
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Parse(tok, key); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGolangJWTTypedClaims(b *testing.B) {
	clk, _, tok := benchSetup(b)
	p := jwtParser(clk)
	key := func(*jwt.Token) (any, error) { return keyA().Secret, nil }
	b.ReportAllocs()
	for b.Loop() {
		var c jwtClaims
		if _, err := p.ParseWithClaims(tok, &c, key); err != nil {
			b.Fatal(err)
		}
	}
}

// The per-algorithm benchmarks: VerifyFirst is a token's first
// verification (the cache off, so every iteration checks the signature),
// VerifyRepeat the same token again (a cache hit), Issue the signing.
// HS256 never uses the cache, so its two are the same path.

var benchAlgs = []string{token.HS256, token.RS256, token.ES256, token.EdDSA}

func benchKey(alg string) token.Key {
	if alg == token.HS256 {
		return keyA()
	}
	return signerKey(alg)
}

func benchToken(b *testing.B, alg string, cacheEntries int) (*token.Manager, string) {
	m := newManagerWith(b, &clock{t0}, token.Config{Keys: []token.Key{benchKey(alg)}, CacheEntries: cacheEntries})
	c := sampleClaims()
	c.Subject, c.ID, c.SessionID = "123456", token.NewID(), token.NewID()
	tok, err := m.Issue(c)
	if err != nil {
		b.Fatal(err)
	}
	return m, tok
}

func BenchmarkVerifyFirst(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(alg, func(b *testing.B) {
			m, tok := benchToken(b, alg, -1)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Verify(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerifyRepeat(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(alg, func(b *testing.B) {
			m, tok := benchToken(b, alg, 0)
			if _, err := m.Verify(tok); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Verify(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerifyRepeatParallel(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(alg, func(b *testing.B) {
			m, tok := benchToken(b, alg, 0)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := m.Verify(tok); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func BenchmarkIssueAlg(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(alg, func(b *testing.B) {
			m, _ := benchToken(b, alg, 0)
			c := sampleClaims()
			c.Subject, c.ID, c.SessionID = "123456", token.NewID(), token.NewID()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Issue(c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
