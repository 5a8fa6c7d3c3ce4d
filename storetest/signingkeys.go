package storetest

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// signingKeyTests cover gatehouse.SigningKeyStore: the states next →
// current → retired, the compare-and-set of a rotation and its race, and
// the purge. The keys' bytes are opaque to a store, so these use made-up
// ones.
var signingKeyTests = []storeTest{
	{"signing keys: init stores a current and a next key, once", testInitSigningKeys},
	{"signing keys: concurrent inits of one algorithm: exactly one stores", testInitSigningKeysRace},
	{"signing keys: rotation promotes next, retires current, stores a new next", testRotateSigningKeys},
	{"signing keys: a rotation from a stale state changes nothing", testRotateSigningKeysStale},
	{"signing keys: concurrent rotations of one current key: exactly one wins", testRotateSigningKeysRace},
	{"signing keys: purge deletes retired keys past their date only", testPurgeSigningKeys},
	{"signing keys: a private part is resealed only if unchanged", testResealSigningKey},
}

func fakeKey(id, alg string, created time.Time) gatehouse.SigningKey {
	return gatehouse.SigningKey{ID: id, Algorithm: alg, Public: []byte("public of " + id + "\x00\xff"),
		Sealed: "v1.sealed." + id, CreatedAt: created}
}

// keysByState returns the stored keys of alg by state, failing the test if
// a state holds more than one key where the contract allows one.
func keysByState(t *testing.T, s gatehouse.Store, alg string) map[string][]gatehouse.SigningKey {
	t.Helper()
	all, err := s.SigningKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]gatehouse.SigningKey{}
	for _, k := range all {
		if k.Algorithm == alg {
			out[k.State] = append(out[k.State], k)
		}
	}
	if len(out[gatehouse.KeyCurrent]) > 1 || len(out[gatehouse.KeyNext]) > 1 {
		t.Fatalf("%s: %d current and %d next keys, want at most one each", alg, len(out[gatehouse.KeyCurrent]), len(out[gatehouse.KeyNext]))
	}
	return out
}

func testInitSigningKeys(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	if keys, err := s.SigningKeys(ctx); err != nil || len(keys) != 0 {
		t.Fatalf("a new store: %d keys, %v", len(keys), err)
	}
	cur, next := fakeKey("c1", "RS256", t0), fakeKey("n1", "RS256", t0)
	cur.ActivatedAt = t0
	ok, err := s.InitSigningKeys(ctx, cur, next)
	if err != nil || !ok {
		t.Fatalf("InitSigningKeys = %v, %v", ok, err)
	}
	ok, err = s.InitSigningKeys(ctx, fakeKey("c2", "RS256", t0.Add(time.Hour)), fakeKey("n2", "RS256", t0.Add(time.Hour)))
	if err != nil || ok {
		t.Fatalf("a second InitSigningKeys = %v, %v; want false: keys exist", ok, err)
	}
	// Another algorithm has keys of its own.
	if ok, err := s.InitSigningKeys(ctx, fakeKey("ec1", "ES256", t0.Add(time.Second)), fakeKey("ec2", "ES256", t0.Add(time.Second))); err != nil || !ok {
		t.Fatalf("InitSigningKeys(ES256) = %v, %v", ok, err)
	}
	_, err = s.InitSigningKeys(ctx, fakeKey("x1", "RS256", t0), fakeKey("x2", "EdDSA", t0))
	wantCode(t, err, gatehouse.EINVALID)

	keys, err := s.SigningKeys(ctx)
	if err != nil || len(keys) != 4 {
		t.Fatalf("SigningKeys = %d keys, %v; want 4", len(keys), err)
	}
	got := keysByState(t, s, "RS256")
	c, n := got[gatehouse.KeyCurrent][0], got[gatehouse.KeyNext][0]
	if c.ID != "c1" || n.ID != "n1" || !bytes.Equal(c.Public, cur.Public) || c.Sealed != cur.Sealed ||
		!c.CreatedAt.Equal(t0) || !c.ActivatedAt.Equal(t0) || !n.ActivatedAt.IsZero() || !n.RetireUntil.IsZero() {
		t.Fatalf("read back current %+v, next %+v", c, n)
	}
}

func testInitSigningKeysRace(t *testing.T, s gatehouse.Store) {
	const n = 8
	wins := race(t, n, func(i int) (bool, error) {
		return s.InitSigningKeys(context.Background(), fakeKey(fmt.Sprintf("c%d", i), "EdDSA", t0), fakeKey(fmt.Sprintf("n%d", i), "EdDSA", t0))
	})
	if wins != 1 {
		t.Fatalf("%d of %d concurrent inits stored keys, want exactly 1", wins, n)
	}
	got := keysByState(t, s, "EdDSA")
	if len(got[gatehouse.KeyCurrent]) != 1 || len(got[gatehouse.KeyNext]) != 1 ||
		got[gatehouse.KeyCurrent][0].ID[1:] != got[gatehouse.KeyNext][0].ID[1:] {
		t.Fatalf("after the race: %+v; want one current and one next, from the same call", got)
	}
}

func initKeys(t *testing.T, s gatehouse.Store, alg string) {
	t.Helper()
	if ok, err := s.InitSigningKeys(context.Background(), fakeKey("cur", alg, t0), fakeKey("next", alg, t0)); err != nil || !ok {
		t.Fatalf("InitSigningKeys = %v, %v", ok, err)
	}
}

func testRotateSigningKeys(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	initKeys(t, s, "ES256")
	initKeysOther := fakeKey("rsa", "RS256", t0)
	s.InitSigningKeys(ctx, initKeysOther, fakeKey("rsa-next", "RS256", t0))
	now, until := t0.Add(30*24*time.Hour), t0.Add(30*24*time.Hour+20*time.Minute)
	ok, err := s.RotateSigningKeys(ctx, gatehouse.KeyRotation{Current: "cur", Next: "next",
		NewNext: fakeKey("next2", "ES256", now), Now: now, RetireUntil: until})
	if err != nil || !ok {
		t.Fatalf("RotateSigningKeys = %v, %v", ok, err)
	}
	got := keysByState(t, s, "ES256")
	cur, next, retired := got[gatehouse.KeyCurrent], got[gatehouse.KeyNext], got[gatehouse.KeyRetired]
	if len(cur) != 1 || cur[0].ID != "next" || !cur[0].ActivatedAt.Equal(now) {
		t.Fatalf("current = %+v, want the former next, activated now", cur)
	}
	if len(next) != 1 || next[0].ID != "next2" || !next[0].CreatedAt.Equal(now) {
		t.Fatalf("next = %+v, want the new key", next)
	}
	if len(retired) != 1 || retired[0].ID != "cur" || !retired[0].RetiredAt.Equal(now) || !retired[0].RetireUntil.Equal(until) {
		t.Fatalf("retired = %+v, want the former current, until %v", retired, until)
	}
	if rsa := keysByState(t, s, "RS256"); rsa[gatehouse.KeyCurrent][0].ID != "rsa" || len(rsa[gatehouse.KeyRetired]) != 0 {
		t.Fatalf("rotating ES256 changed the RS256 keys: %+v", rsa)
	}
	// A new next key of another algorithm is refused and changes nothing.
	_, err = s.RotateSigningKeys(ctx, gatehouse.KeyRotation{Current: "next", Next: "next2",
		NewNext: fakeKey("bad", "RS256", now), Now: now, RetireUntil: until})
	wantCode(t, err, gatehouse.EINVALID)
	if got := keysByState(t, s, "ES256"); got[gatehouse.KeyCurrent][0].ID != "next" {
		t.Fatalf("a refused rotation changed the keys: %+v", got)
	}
}

func testRotateSigningKeysStale(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	initKeys(t, s, "RS256")
	before, _ := s.SigningKeys(ctx)
	for _, r := range []gatehouse.KeyRotation{
		{Current: "next", Next: "cur"},  // states swapped
		{Current: "cur", Next: "nope"},  // next no longer the one checked
		{Current: "nope", Next: "next"}, // current rotated away meanwhile
		{Current: "cur", Next: "cur"},   // a key is not its own successor
		{Current: "next", Next: "next"}, // nor is next its own predecessor
	} {
		r.NewNext, r.Now, r.RetireUntil = fakeKey("fresh", "RS256", t0.Add(time.Hour)), t0.Add(time.Hour), t0.Add(2*time.Hour)
		ok, err := s.RotateSigningKeys(ctx, r)
		if err != nil || ok {
			t.Fatalf("RotateSigningKeys(%s→%s) = %v, %v; want false", r.Current, r.Next, ok, err)
		}
	}
	after, _ := s.SigningKeys(ctx)
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Fatalf("refused rotations changed the keys:\n%+v\n%+v", before, after)
	}
}

func testRotateSigningKeysRace(t *testing.T, s gatehouse.Store) {
	initKeys(t, s, "RS256")
	const n = 8
	now := t0.Add(time.Hour)
	wins := race(t, n, func(i int) (bool, error) {
		return s.RotateSigningKeys(context.Background(), gatehouse.KeyRotation{Current: "cur", Next: "next",
			NewNext: fakeKey(fmt.Sprintf("new%d", i), "RS256", now), Now: now, RetireUntil: now.Add(time.Hour)})
	})
	if wins != 1 {
		t.Fatalf("%d of %d concurrent rotations won, want exactly 1", wins, n)
	}
	got := keysByState(t, s, "RS256")
	if got[gatehouse.KeyCurrent][0].ID != "next" || len(got[gatehouse.KeyNext]) != 1 || len(got[gatehouse.KeyRetired]) != 1 {
		t.Fatalf("after the race: %+v; want next current, one new next, cur retired", got)
	}
}

func testPurgeSigningKeys(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	initKeys(t, s, "EdDSA")
	rotate := func(cur, next, newNext string, now time.Time) {
		t.Helper()
		ok, err := s.RotateSigningKeys(ctx, gatehouse.KeyRotation{Current: cur, Next: next,
			NewNext: fakeKey(newNext, "EdDSA", now), Now: now, RetireUntil: now.Add(time.Hour)})
		if err != nil || !ok {
			t.Fatalf("rotate: %v, %v", ok, err)
		}
	}
	rotate("cur", "next", "k3", t0.Add(time.Hour))     // cur retired until t0+2h
	rotate("next", "k3", "k4", t0.Add(90*time.Minute)) // next retired until t0+2h30
	if n, err := s.PurgeSigningKeys(ctx, t0.Add(2*time.Hour)); err != nil || n != 0 {
		t.Fatalf("purge at the retire-until instant: %d, %v; want 0 (kept until then)", n, err)
	}
	if n, err := s.PurgeSigningKeys(ctx, t0.Add(2*time.Hour+time.Minute)); err != nil || n != 1 {
		t.Fatalf("purge after the first retire-until: %d, %v; want 1", n, err)
	}
	// Far in the future only retired keys go: current and next stay.
	if n, err := s.PurgeSigningKeys(ctx, t0.Add(1000*time.Hour)); err != nil || n != 1 {
		t.Fatalf("purge far ahead: %d, %v; want 1", n, err)
	}
	got := keysByState(t, s, "EdDSA")
	if got[gatehouse.KeyCurrent][0].ID != "k3" || got[gatehouse.KeyNext][0].ID != "k4" || len(got[gatehouse.KeyRetired]) != 0 {
		t.Fatalf("after purges: %+v", got)
	}
}

func testResealSigningKey(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	initKeys(t, s, "ES256")
	if ok, err := s.ResealSigningKey(ctx, "cur", "v1.sealed.cur", "v2.resealed"); err != nil || !ok {
		t.Fatalf("ResealSigningKey = %v, %v", ok, err)
	}
	if ok, err := s.ResealSigningKey(ctx, "cur", "v1.sealed.cur", "v3.stale"); err != nil || ok {
		t.Fatalf("a reseal from a stale value = %v, %v; want false", ok, err)
	}
	_, err := s.ResealSigningKey(ctx, "nope", "a", "b")
	wantCode(t, err, gatehouse.ENOTFOUND)
	got := keysByState(t, s, "ES256")
	if got[gatehouse.KeyCurrent][0].Sealed != "v2.resealed" || got[gatehouse.KeyNext][0].Sealed != "v1.sealed.next" {
		t.Fatalf("after reseals: current %q, next %q", got[gatehouse.KeyCurrent][0].Sealed, got[gatehouse.KeyNext][0].Sealed)
	}
}
