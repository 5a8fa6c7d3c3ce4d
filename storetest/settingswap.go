package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/gatehouse/gatehouse"
)

// testSwapSetting checks the compare-and-set of a setting: it changes a
// value only from the one named, and of racing swaps exactly one wins.
func testSwapSetting(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	if ok, err := s.SwapSetting(ctx, "absent", "", "x"); err != nil || ok {
		t.Fatalf("swap of a missing setting = %v, %v; want false", ok, err)
	}
	if _, err := s.Setting(ctx, "absent"); gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
		t.Fatalf("a refused swap created the setting: %v", err)
	}
	if _, err := s.SetSettingIfAbsent(ctx, "k", "one"); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.SwapSetting(ctx, "k", "two", "three"); err != nil || ok {
		t.Fatalf("swap from a value not held = %v, %v; want false", ok, err)
	}
	if ok, err := s.SwapSetting(ctx, "k", "one", "two"); err != nil || !ok {
		t.Fatalf("swap from the value held = %v, %v; want true", ok, err)
	}
	if v, err := s.Setting(ctx, "k"); err != nil || v != "two" {
		t.Fatalf("after the swap Setting = %q, %v; want two", v, err)
	}
	const n = 10
	wins := race(t, n, func(i int) (bool, error) { return s.SwapSetting(ctx, "k", "two", fmt.Sprint("racer", i)) })
	if wins != 1 {
		t.Fatalf("%d of %d racing swaps from one value won, want exactly 1", wins, n)
	}
}
