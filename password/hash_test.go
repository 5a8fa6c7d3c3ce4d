package password

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// testParams are far below DefaultParams so the suite stays fast under -race.
var testParams = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestDefaultParamsMeetOWASPMinimum(t *testing.T) {
	p := DefaultParams()
	if p.Memory < 19*1024 || p.Time < 2 || p.Threads < 1 || p.SaltLen < 16 || p.KeyLen < 32 {
		t.Fatalf("DefaultParams() = %+v, below m=19456 KiB, t=2, p=1, salt 16, key 32", p)
	}
}

func TestHashVerifyRoundTrip(t *testing.T) {
	h := NewHasher(testParams)
	for _, pw := range []string{"correct horse battery staple", "  spaces kept  ", "pässwörd✓", strings.Repeat("x", MaxBytes)} {
		enc, err := h.Hash(pw)
		if err != nil {
			t.Fatalf("Hash: %v", err)
		}
		if ok, rehash, err := h.Verify(pw, enc); !ok || rehash || err != nil {
			t.Errorf("Verify(right password) = %v, %v, %v; want true, false, nil", ok, rehash, err)
		}
		for _, wrong := range []string{pw + "x", strings.TrimSpace(pw), pw[:len(pw)-1]} {
			if wrong == pw {
				continue
			}
			if ok, rehash, err := h.Verify(wrong, enc); ok || rehash || err != nil {
				t.Errorf("Verify(wrong password) = %v, %v, %v; want false, false, nil", ok, rehash, err)
			}
		}
	}
}

func TestHashIsSaltedPHC(t *testing.T) {
	h := NewHasher(testParams)
	a, _ := h.Hash("password1")
	b, _ := h.Hash("password1")
	if a == b {
		t.Error("two hashes of one password are equal: salt is not random")
	}
	if !strings.HasPrefix(a, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("Hash = %q, want the PHC prefix $argon2id$v=19$m=64,t=1,p=1$", a)
	}
}

// TestHashFormatMatchesArgon2 checks the encoding against x/crypto's argon2
// called directly with the same salt.
func TestHashFormatMatchesArgon2(t *testing.T) {
	salt := []byte("0123456789abcdef")
	got := NewHasher(DefaultParams()).hashWithSalt("hunter2 but longer", salt)
	key := argon2.IDKey([]byte("hunter2 but longer"), salt, 2, 19456, 1, 32)
	want := "$argon2id$v=19$m=19456,t=2,p=1$MDEyMzQ1Njc4OWFiY2RlZg$" + base64.RawStdEncoding.EncodeToString(key)
	if got != want {
		t.Errorf("hash = %q\nwant   %q", got, want)
	}
}

// TestVerifyKnownAnswer verifies a vector of the reference implementation
// (phc-winner-argon2, also in x/crypto's argon2 tests): argon2id, password
// "password", salt "somesalt", t=2, m=64, p=1, 24-byte key.
func TestVerifyKnownAnswer(t *testing.T) {
	key, _ := hex.DecodeString("068d62b26455936aa6ebe60060b0a65870dbfa3ddf8d41f7")
	enc := "$argon2id$v=19$m=64,t=2,p=1$c29tZXNhbHQ$" + base64.RawStdEncoding.EncodeToString(key)
	h := NewHasher(testParams)
	if ok, _, err := h.Verify("password", enc); !ok || err != nil {
		t.Fatalf("Verify(known answer) = %v, %v; want true, nil", ok, err)
	}
	if ok, _, _ := h.Verify("Password", enc); ok {
		t.Error("Verify(wrong case) matched")
	}
}

func TestVerifyBcryptImports(t *testing.T) {
	h := NewHasher(testParams)
	gen, err := bcrypt.GenerateFromPassword([]byte("imported secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range []string{"$2a$", "$2b$", "$2y$"} {
		t.Run(tag, func(t *testing.T) {
			enc := tag + string(gen[4:])
			if ok, rehash, err := h.Verify("imported secret", enc); !ok || !rehash || err != nil {
				t.Errorf("Verify(right) = %v, %v, %v; want true, true (rehash), nil", ok, rehash, err)
			}
			if ok, rehash, err := h.Verify("imported secreT", enc); ok || rehash || err != nil {
				t.Errorf("Verify(wrong) = %v, %v, %v; want false, false, nil", ok, rehash, err)
			}
		})
	}
}

func TestVerifyBcryptNeverMatchesByTruncation(t *testing.T) {
	h := NewHasher(testParams)
	prefix := strings.Repeat("a", 72)
	gen, err := bcrypt.GenerateFromPassword([]byte(prefix), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _, _ := h.Verify(prefix, string(gen)); !ok {
		t.Fatal("72-byte password does not verify: the test is broken")
	}
	for _, pw := range []string{prefix + "b", prefix + strings.Repeat("z", 100)} {
		if ok, rehash, err := h.Verify(pw, string(gen)); ok || rehash || err != nil {
			t.Errorf("Verify(%d bytes sharing the 72-byte prefix) = %v, %v, %v; want false, false, nil", len(pw), ok, rehash, err)
		}
	}
}

func TestVerifyNeedsRehashWhenArgon2ParamsDiffer(t *testing.T) {
	current := NewHasher(testParams)
	tests := []struct {
		name string
		p    Params
		want bool
	}{
		{"current params", testParams, false},
		{"less memory", Params{Memory: 32, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, true},
		{"more passes", Params{Memory: 64, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}, true},
		{"more lanes", Params{Memory: 64, Time: 1, Threads: 2, SaltLen: 16, KeyLen: 32}, true},
		{"shorter salt", Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 8, KeyLen: 32}, true},
		{"shorter key", Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 16}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, err := NewHasher(tt.p).Hash("a fine password")
			if err != nil {
				t.Fatal(err)
			}
			ok, rehash, err := current.Verify("a fine password", enc)
			if !ok || rehash != tt.want || err != nil {
				t.Errorf("Verify = %v, %v, %v; want true, %v, nil", ok, rehash, err, tt.want)
			}
		})
	}
}

// TestVerifyDummyDoesTheMemoryHardWorkOfVerify checks the promise that an
// unknown user costs the same argon2id work as a wrong password. argon2id's
// cost is its memory: each call fills Params.Memory KiB, so VerifyDummy must
// allocate that much, as much as a real Verify with the same parameters.
func TestVerifyDummyDoesTheMemoryHardWorkOfVerify(t *testing.T) {
	p := Params{Memory: 8 * 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32} // 8 MiB
	h := NewHasher(p)
	enc, err := h.Hash("the real password")
	if err != nil {
		t.Fatal(err)
	}
	allocated := func(fn func()) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		fn()
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	verify := allocated(func() { h.Verify("a wrong password", enc) })
	dummy := allocated(func() { h.VerifyDummy("a wrong password") })

	memory := uint64(p.Memory) * 1024
	if verify < memory {
		t.Fatalf("Verify allocated %d bytes, less than Params.Memory (%d): the measurement is broken", verify, memory)
	}
	if dummy < memory || dummy < verify*9/10 {
		t.Errorf("VerifyDummy allocated %d bytes; Verify allocated %d and Params.Memory is %d", dummy, verify, memory)
	}
}

func TestVerifyRefusesBadHashes(t *testing.T) {
	h := NewHasher(testParams)
	good, _ := h.Hash("a fine password")
	f := strings.Split(good, "$") // "", argon2id, v=19, m=64,t=1,p=1, salt, key
	phc := func(params string) string { return "$argon2id$v=19$" + params + "$" + f[4] + "$" + f[5] }
	bc, _ := bcrypt.GenerateFromPassword([]byte("a fine password"), bcrypt.MinCost)
	bcryptCost := func(cost string) string { return string(bc[:4]) + cost + string(bc[6:]) }
	tests := []struct {
		name, enc string
		want      error
	}{
		{"empty", "", errUnsupported},
		{"plain text", "a fine password", errUnsupported},
		{"argon2i", strings.Replace(good, "argon2id", "argon2i", 1), errUnsupported},
		{"bcrypt $2x$", "$2x$" + string(bc[4:]), errUnsupported},
		{"scrypt", "$scrypt$ln=16,r=8,p=1$c2FsdA$a2V5", errUnsupported},
		{"version 16", strings.Replace(good, "v=19", "v=16", 1), errUnsupported},
		{"no version", "$argon2id$m=64,t=1,p=1$" + f[4] + "$" + f[5], errMalformed},
		{"missing key", strings.Join(f[:5], "$"), errMalformed},
		{"extra field", good + "$x", errMalformed},
		{"params reordered", phc("t=1,m=64,p=1"), errMalformed},
		{"extra param", phc("m=64,t=1,p=1,keyid=x"), errMalformed},
		{"negative time", phc("m=64,t=-1,p=1"), errMalformed},
		{"signed memory", phc("m=+64,t=1,p=1"), errMalformed},
		{"memory beyond 32 bits", phc("m=4294967296,t=1,p=1"), errMalformed},
		{"padded base64", good + "=", errMalformed},
		{"bad base64", good[:len(good)-3] + "!!!", errMalformed},
		{"zero time", phc("m=64,t=0,p=1"), errOutOfBounds},
		{"zero lanes", phc("m=64,t=1,p=0"), errOutOfBounds},
		{"lanes wrapping uint8", phc("m=64,t=1,p=257"), errOutOfBounds},
		{"memory below 8 KiB per lane", phc("m=8,t=1,p=2"), errOutOfBounds},
		{"4 GiB memory", phc("m=4194304,t=1,p=1"), errOutOfBounds},
		{"a million passes", phc("m=64,t=1000000,p=1"), errOutOfBounds},
		{"255 lanes", phc("m=4096,t=1,p=255"), errOutOfBounds},
		{"short salt", "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$" + f[5], errOutOfBounds},
		{"huge salt", "$argon2id$v=19$m=64,t=1,p=1$" + strings.Repeat("A", 1<<20) + "$" + f[5], errOutOfBounds},
		{"bcrypt truncated", string(bc[:59]), errMalformed},
		{"bcrypt cost 31", bcryptCost("31"), errOutOfBounds},
		{"bcrypt cost 3", bcryptCost("03"), errMalformed},
		{"bcrypt cost not digits", bcryptCost("+9"), errMalformed},
		{"bcrypt bad salt", string(bc[:7]) + strings.Repeat("!", 53), errMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := h.Verify("a fine password", tt.enc)
			if ok || rehash || !errors.Is(err, tt.want) {
				t.Errorf("Verify = %v, %v, %v; want false, false, %v", ok, rehash, err, tt.want)
			}
		})
	}
}

func TestVerifyErrorsNeverContainSecrets(t *testing.T) {
	const pw = "SecretSquirrel42"
	enc := "$argon2id$v=19$m=64,t=1,p=1$" + pw + "$" + pw
	if _, _, err := NewHasher(testParams).Verify(pw, enc); err == nil || strings.Contains(err.Error(), pw) {
		t.Errorf("Verify error = %v; want an error without the password or hash", err)
	}
}

func TestNewHasherPanicsOnAbsurdParams(t *testing.T) {
	for _, p := range []Params{
		{},
		{Memory: 1 << 30, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Memory: 64, Time: 1, Threads: 1, SaltLen: 4, KeyLen: 32},
	} {
		t.Run(fmt.Sprintf("%+v", p), func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("NewHasher did not panic")
				}
			}()
			NewHasher(p)
		})
	}
}

func FuzzVerify(f *testing.F) {
	h := NewHasher(testParams)
	good, _ := h.Hash("a fine password")
	bc, _ := bcrypt.GenerateFromPassword([]byte("a fine password"), bcrypt.MinCost)
	for _, s := range []string{
		good, string(bc), "$2y$" + string(bc[4:]), "", "$", "$argon2id$", "$argon2id$v=19$$$",
		"$argon2id$v=19$m=64,t=1,p=1$$", "$argon2id$v=19$m=,t=,p=$c2FsdA$a2V5", "$2b$99$",
	} {
		f.Add("a fine password", s)
	}
	f.Fuzz(func(t *testing.T, pw, enc string) {
		// Verify would honour any cost within bounds; keep each run cheap by
		// verifying only cheap hashes, and fuzz the parsers on all of them.
		if p, _, _, err := parseArgon2id(enc); err == nil && p.Memory*p.Time > 1024 {
			return
		}
		if checkBcrypt(enc) == nil && enc[4:6] > "06" {
			return
		}
		ok, rehash, err := h.Verify(pw, enc)
		if err != nil && (ok || rehash) {
			t.Errorf("Verify = %v, %v, %v: a match alongside an error", ok, rehash, err)
		}
		if rehash && !ok {
			t.Error("needsRehash without a match")
		}
	})
}

func BenchmarkHash(b *testing.B) {
	h := NewHasher(DefaultParams())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Hash("correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	h := NewHasher(DefaultParams())
	enc, _ := h.Hash("correct horse battery staple")
	b.ReportAllocs()
	for b.Loop() {
		if ok, _, _ := h.Verify("correct horse battery staple", enc); !ok {
			b.Fatal("no match")
		}
	}
}

func BenchmarkVerifyDummy(b *testing.B) {
	h := NewHasher(DefaultParams())
	b.ReportAllocs()
	for b.Loop() {
		h.VerifyDummy("correct horse battery staple")
	}
}
