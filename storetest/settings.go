package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/gatehouse/gatehouse"
)

func testSettings(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	v, err := s.SetSettingIfAbsent(ctx, "k", "first")
	if err != nil || v != "first" {
		t.Fatalf("first set = %q, %v", v, err)
	}
	v, err = s.SetSettingIfAbsent(ctx, "k", "second")
	if err != nil || v != "first" {
		t.Fatalf("second set = %q, %v; want the first value", v, err)
	}
	if v, err := s.Setting(ctx, "k"); err != nil || v != "first" {
		t.Fatalf("Setting = %q, %v", v, err)
	}
	// Instances starting at once, each with its own fresh secret, must all
	// end up with the one that was stored. Several rounds, each on a new
	// key, give the calls more chances to interleave.
	const rounds, n = 20, 10
	for round := range rounds {
		key := fmt.Sprint("k", round+2)
		got := make([]string, n)
		race(t, n, func(i int) (bool, error) {
			v, err := s.SetSettingIfAbsent(ctx, key, fmt.Sprint(i))
			got[i] = v
			return false, err
		})
		stored, err := s.Setting(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range got {
			if v != stored {
				t.Fatalf("%d concurrent SetSettingIfAbsent(%q) returned %q; want all to return %q, the stored value", n, key, got, stored)
			}
		}
	}
}
