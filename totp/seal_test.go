package totp

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

func TestDeriveKeyIsDeterministicAndSeparatedByInfo(t *testing.T) {
	master := testKey(7)
	k1, err := DeriveKey(master, "gatehouse totp v1")
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := DeriveKey(master, "gatehouse totp v1")
	k3, _ := DeriveKey(master, "gatehouse totp v2")
	k4, _ := DeriveKey(testKey(8), "gatehouse totp v1")
	if len(k1) != KeySize || !bytes.Equal(k1, k2) {
		t.Fatalf("derivation is not a deterministic %d-byte key", KeySize)
	}
	if bytes.Equal(k1, k3) || bytes.Equal(k1, k4) || bytes.Equal(k1, master) {
		t.Error("different info or master gave the same key, or the key is the master")
	}
}

func TestDeriveKeyRefusesShortMasters(t *testing.T) {
	if _, err := DeriveKey([]byte("short server secret"), "gatehouse totp v1"); err == nil {
		t.Error("DeriveKey accepted a 19-byte master")
	}
}

func TestNewSealerRefusesKeysThatAreNotAES256(t *testing.T) {
	for _, keys := range [][][]byte{{testKey(1)[:16]}, {testKey(1), testKey(2)[:31]}, {nil}} {
		if _, err := NewSealer(keys[0], keys[1:]...); err == nil {
			t.Errorf("NewSealer accepted keys of lengths %d", lengths(keys))
		}
	}
}

func lengths(keys [][]byte) []int {
	var n []int
	for _, k := range keys {
		n = append(n, len(k))
	}
	return n
}

func TestSealOpensOnlyWithTheSameKeyAndData(t *testing.T) {
	s, err := NewSealer(testKey(1))
	if err != nil {
		t.Fatal(err)
	}
	secret, aad := []byte("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"), []byte("user:42")
	sealed := s.Seal(secret, aad)
	if !strings.HasPrefix(sealed, "v1.") || bytes.Contains([]byte(sealed), secret) {
		t.Fatalf("sealed %q: want v1 form without the plaintext", sealed)
	}
	if got, err := s.Open(sealed, aad); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %q, %v; want the plaintext", got, err)
	}
	if again := s.Seal(secret, aad); again == sealed {
		t.Error("sealing twice gave the same value: nonce reused")
	}

	version, rest, _ := strings.Cut(sealed, ".")
	kid, body, _ := strings.Cut(rest, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(body)
	flip := func(i int) string {
		b := bytes.Clone(raw)
		b[i] ^= 1
		return version + "." + kid + "." + base64.RawURLEncoding.EncodeToString(b)
	}
	other, _ := NewSealer(testKey(2))
	tests := []struct {
		name, sealed string
		aad          []byte
		opener       *Sealer
	}{
		{"other row's data", sealed, []byte("user:43"), s},
		{"no data", sealed, nil, s},
		{"nonce altered", flip(0), aad, s},
		{"ciphertext altered", flip(12), aad, s},
		{"tag altered", flip(len(raw) - 1), aad, s},
		{"truncated", sealed[:len(sealed)-4], aad, s},
		{"unknown version", "v2" + sealed[2:], aad, s},
		{"no key id", "v1." + body, aad, s},
		{"not base64", "v1." + kid + ".!!!", aad, s},
		{"empty", "", aad, s},
		{"sealer without the key", sealed, aad, other},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := tt.opener.Open(tt.sealed, tt.aad); err == nil {
				t.Errorf("Open succeeded with %q", got)
			}
		})
	}
}

func TestSealerRotation(t *testing.T) {
	oldKey, newKey := testKey(1), testKey(2)
	before, _ := NewSealer(oldKey)
	after, err := NewSealer(newKey, oldKey)
	if err != nil {
		t.Fatal(err)
	}
	aad := []byte("user:42")
	oldSealed := before.Seal([]byte("secret"), aad)

	if got, err := after.Open(oldSealed, aad); err != nil || string(got) != "secret" {
		t.Fatalf("old value under the rotated sealer: Open = %q, %v", got, err)
	}
	if !after.NeedsReseal(oldSealed) {
		t.Error("a value under the old key does not need resealing")
	}
	resealed := after.Seal([]byte("secret"), aad)
	if after.NeedsReseal(resealed) {
		t.Error("a value under the current key needs resealing")
	}
	if before.NeedsReseal(oldSealed) {
		t.Error("a value under the only key needs resealing")
	}
	if before.NeedsReseal(resealed) {
		t.Error("a value under an unknown key reported resealable; it cannot be opened")
	}
	if before.NeedsReseal("garbage") {
		t.Error("a malformed value reported resealable")
	}
}

func TestSealerKeyIDsNameKeysWithoutRevealingThem(t *testing.T) {
	oldKey, newKey := testKey(1), testKey(2)
	before, _ := NewSealer(oldKey)
	after, _ := NewSealer(newKey, oldKey)
	if before.KeyID() == after.KeyID() || len(after.KeyID()) != 8 {
		t.Fatalf("key ids %q and %q: want 8 hex digits, one per key", before.KeyID(), after.KeyID())
	}
	if again, _ := NewSealer(newKey); again.KeyID() != after.KeyID() {
		t.Fatal("one key, two ids")
	}
	sealed := before.Seal([]byte("secret"), nil)
	if SealedKeyID(sealed) != before.KeyID() || SealedKeyID("garbage") != "" {
		t.Fatalf("SealedKeyID = %q, want %q", SealedKeyID(sealed), before.KeyID())
	}
	if !after.HasKey(before.KeyID()) || !after.HasKey(after.KeyID()) || before.HasKey(after.KeyID()) || after.HasKey("") {
		t.Fatal("HasKey does not tell the keys a sealer holds")
	}
	if strings.Contains(fmt.Sprintf("%x", newKey), after.KeyID()) {
		t.Fatal("the key id is a piece of the key")
	}
}

func TestSealerErrorsAndStringHideSecrets(t *testing.T) {
	key, plaintext, aad := testKey(0xab), []byte("JBSWY3DPEHPK3PXP"), []byte("user:42")
	s, _ := NewSealer(key)
	sealed := s.Seal(plaintext, aad)
	other, _ := NewSealer(testKey(0xcd))
	_, body, _ := strings.Cut(sealed[3:], ".")

	outputs := map[string]string{"String": s.String(), "%#v": fmt.Sprintf("%#v", s), "%+v": fmt.Sprintf("%+v", s)}
	failures := []struct {
		name   string
		opener *Sealer
		sealed string
		aad    []byte
	}{
		{"unknown key id", other, sealed, aad},
		{"altered", s, alter(sealed, len(sealed)/2), aad},
		{"wrong aad", s, sealed, []byte("user:43")},
	}
	for _, f := range failures {
		_, err := f.opener.Open(f.sealed, f.aad)
		if err == nil {
			t.Fatalf("%s: Open succeeded", f.name)
		}
		outputs[f.name] = err.Error()
	}
	for name, out := range outputs {
		for _, secret := range []string{hex.EncodeToString(key), string(key), string(plaintext), body[:16]} {
			if strings.Contains(out, secret) {
				t.Errorf("%s output %q contains a secret", name, out)
			}
		}
	}
	if !strings.Contains(outputs["unknown key id"], sealed[3:11]) {
		t.Errorf("unknown key error %q does not name the key id, which operators need", outputs["unknown key id"])
	}
}

// alter returns s with the base64 character at i replaced by another.
func alter(s string, i int) string {
	c := byte('A')
	if s[i] == c {
		c = 'B'
	}
	return s[:i] + string(c) + s[i+1:]
}

func BenchmarkSealOpen(b *testing.B) {
	s, _ := NewSealer(testKey(1))
	plaintext, aad := []byte("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"), []byte("user:42")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Open(s.Seal(plaintext, aad), aad); err != nil {
			b.Fatal(err)
		}
	}
}
