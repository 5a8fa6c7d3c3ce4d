package auth

import (
	"strings"
	"testing"
	"time"
)

func TestMFATokenOpensOnlyAsIssuedAndUntilExpiry(t *testing.T) {
	c := newTFClock()
	s := &Service{cfg: Config{Sealer: newTestSealer(t, 1)}, now: c.Now}
	tok := s.newMFAToken(42, "read:items", "cred-fp")
	claims, ok := s.openMFAToken(tok)
	if !ok || claims.UserID != 42 || claims.Scope != "read:items" || claims.ID == "" || claims.Cred != "cred-fp" {
		t.Fatalf("fresh token: %+v, %v", claims, ok)
	}
	if other, _ := s.openMFAToken(s.newMFAToken(42, "read:items", "cred-fp")); other.ID == claims.ID {
		t.Fatal("two tokens share an ID, so spending one would spend both")
	}
	if strings.Contains(tok, "read:items") {
		t.Error("the token shows its claims")
	}
	otherKey := &Service{cfg: Config{Sealer: newTestSealer(t, 2)}, now: c.Now}
	sealedSecret := mfaTokenPrefix + s.cfg.Sealer.Seal([]byte(`{"jti":"x","sub":42,"exp":9999999999}`), secretAAD(42))
	for _, tt := range []struct {
		name string
		svc  *Service
		tok  string
	}{
		{"without its prefix", s, strings.TrimPrefix(tok, mfaTokenPrefix)},
		{"altered", s, tok[:len(tok)-2] + "AA"},
		{"under another key", otherKey, tok},
		{"sealed for a TOTP secret", s, sealedSecret},
		{"oversized", s, tok + strings.Repeat("A", 512)},
		{"empty", s, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := tt.svc.openMFAToken(tt.tok); ok {
				t.Fatal("opened")
			}
		})
	}
	c.Advance(MFATokenTTL - time.Second)
	if _, ok := s.openMFAToken(tok); !ok {
		t.Fatal("refused before expiry")
	}
	c.Advance(time.Second)
	if _, ok := s.openMFAToken(tok); ok {
		t.Fatal("opened at expiry")
	}
}

func BenchmarkOpenMFAToken(b *testing.B) {
	c := newTFClock()
	s := &Service{cfg: Config{Sealer: newTestSealer(b, 1)}, now: c.Now}
	tok := s.newMFAToken(42, "read:items write:items", "0123456789abcdef0123456789abcdef")
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := s.openMFAToken(tok); !ok {
			b.Fatal("refused")
		}
	}
}
