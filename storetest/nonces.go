package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

func testNonces(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	exp := t0.Add(time.Hour)
	steps := []struct {
		name  string
		purge time.Time // when set, PurgeRevocations(purge) first
		id    string
		want  bool
	}{
		{"first use", time.Time{}, "n1", true},
		{"second use", time.Time{}, "n1", false},
		{"another nonce", time.Time{}, "n2", true},
		{"kept by a purge before expiry", t0, "n1", false},
		{"forgotten after a purge past expiry", exp.Add(time.Minute), "n1", true},
	}
	for _, st := range steps {
		if !st.purge.IsZero() {
			if _, err := s.PurgeRevocations(ctx, st.purge); err != nil {
				t.Fatal(err)
			}
		}
		// Before each use, NonceUsed answers the opposite of what the use
		// will, and changes nothing: asking twice gives the same answer.
		for range 2 {
			if used, err := s.NonceUsed(ctx, st.id); err != nil || used == st.want {
				t.Fatalf("%s: NonceUsed(%q) = %v, %v; want %v", st.name, st.id, used, err, !st.want)
			}
		}
		if ok, err := s.UseNonce(ctx, st.id, exp); err != nil || ok != st.want {
			t.Fatalf("%s: UseNonce(%q) = %v, %v; want %v", st.name, st.id, ok, err, st.want)
		}
		if used, err := s.NonceUsed(ctx, st.id); err != nil || !used {
			t.Fatalf("%s: NonceUsed(%q) after use = %v, %v; want true", st.name, st.id, used, err)
		}
	}
}

func testNonceRace(t *testing.T, s gatehouse.Store) {
	wins := race(t, 10, func(int) (bool, error) { return s.UseNonce(context.Background(), "n", t0.Add(time.Hour)) })
	if wins != 1 {
		t.Fatalf("%d concurrent uses of one nonce succeeded, want exactly 1", wins)
	}
}
