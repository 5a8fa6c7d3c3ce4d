package auth

import (
	"bytes"
	"strings"
	"testing"
)

// TestSealedSuccessorOpensOnlyWithTheSpentToken: the successor kept for
// the grace window is stored sealed under a key derived from the spent
// token, so only a client holding that token can open it, and a copy of
// the database (the spent token's hash and the sealed value) yields
// nothing.
func TestSealedSuccessorOpensOnlyWithTheSpentToken(t *testing.T) {
	spent, next := newRefreshToken(), newRefreshToken()
	sealed := sealSuccessor(spent, next)

	secret, err := refreshEncoding.DecodeString(strings.TrimPrefix(next, RefreshPrefix))
	if err != nil {
		t.Fatal(err)
	}
	for _, form := range [][]byte{[]byte(next), []byte(strings.TrimPrefix(next, RefreshPrefix)), secret} {
		if bytes.Contains(sealed, form) {
			t.Fatalf("the sealed value contains the successor (%q)", form)
		}
	}
	if again := sealSuccessor(spent, next); bytes.Equal(again, sealed) {
		t.Fatal("sealing the same successor twice gave the same bytes: the nonce is not fresh")
	}
	if got, err := openSuccessor(spent, sealed); err != nil || got != next {
		t.Fatalf("opened with the spent token: %q, %v; want the successor", got, err)
	}

	// A copy of the database holds the spent token's hash (which is also
	// the additional data the seal is bound to) and the sealed value, not
	// the token: no key derived from what it holds opens the seal.
	ad := []byte(hashRefresh(spent))
	for _, held := range []string{hashRefresh(spent), string(sealed), ""} {
		aead := successorAEAD(held)
		n := aead.NonceSize()
		if pt, err := aead.Open(nil, sealed[:n], sealed[n:], ad); err == nil {
			t.Fatalf("opened from the database alone: %q", pt)
		}
	}

	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 1
		return b
	}
	tests := []struct {
		name   string
		key    string
		sealed []byte
	}{
		{"another token", newRefreshToken(), sealed},
		{"the spent token's stored hash", hashRefresh(spent), sealed},
		{"the successor itself", next, sealed},
		{"tampered nonce", spent, flip(0)},
		{"tampered ciphertext", spent, flip(len(sealed) / 2)},
		{"tampered tag", spent, flip(len(sealed) - 1)},
		{"truncated", spent, sealed[:len(sealed)-1]},
		{"shorter than a nonce", spent, sealed[:4]},
		{"empty", spent, nil},
		{"sealed for another token", spent, sealSuccessor(newRefreshToken(), next)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := openSuccessor(tt.key, tt.sealed); err == nil || got != "" {
				t.Fatalf("opened: %q, %v; want an error and nothing", got, err)
			}
		})
	}
}
