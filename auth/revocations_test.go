package auth

import (
	"runtime"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/token"
)

func TestMirrorKindsExpiryAndPurge(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	m := NewMirror()
	m.Add(gatehouse.Revocation{Kind: gatehouse.RevokeToken, Value: "same", ExpiresAt: now.Add(500 * time.Millisecond)},
		gatehouse.Revocation{Kind: gatehouse.RevokeSession, Value: "s1", ExpiresAt: now.Add(time.Hour)},
		gatehouse.Revocation{Kind: "bogus", Value: "x", ExpiresAt: now.Add(time.Hour)})
	if !m.Revoked("same", "") || m.Revoked("other", "same") {
		t.Fatal("a jti revocation must revoke that jti only, not a session of the same value")
	}
	if !m.Revoked("any", "s1") || m.Revoked("s1", "") {
		t.Fatal("a sid revocation must revoke the session's tokens only")
	}
	if m.Len() != 2 {
		t.Fatalf("Len = %d, want 2 (an unknown kind is ignored)", m.Len())
	}
	// Expiry is kept in whole seconds, rounded up: never forgotten early.
	if n := m.Purge(now); n != 0 || !m.Revoked("same", "") {
		t.Fatalf("Purge(now) forgot %d; a revocation expiring at now+0.5s must stay", n)
	}
	// A later expiry wins over an earlier one, whatever the order.
	m.Add(gatehouse.Revocation{Kind: gatehouse.RevokeSession, Value: "s1", ExpiresAt: now.Add(time.Minute)})
	if n := m.Purge(now.Add(2 * time.Minute)); n != 1 || !m.Revoked("", "s1") || m.Revoked("same", "") {
		t.Fatalf("Purge(now+2m) forgot %d; want only the jti (the session lives an hour)", n)
	}
	if n := m.Purge(now.Add(time.Hour)); n != 1 || m.Len() != 0 {
		t.Fatalf("Purge(now+1h) forgot %d, left %d", n, m.Len())
	}
}

// Issue 10 §2: at most 64 bytes of memory per live revocation.
func TestMirrorMemoryPerRevocation(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates a few tens of MiB")
	}
	const n = 200_000
	exp := time.Now().Add(time.Hour)
	revs := make([]gatehouse.Revocation, 1024)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	m := NewMirror()
	m.Reserve(n)
	for i := 0; i < n; i += len(revs) {
		for j := range revs {
			revs[j] = gatehouse.Revocation{Kind: gatehouse.RevokeToken, Value: token.NewID(), ExpiresAt: exp}
		}
		m.Add(revs...)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	// The table lives outside the Go heap on Linux: count its bytes too.
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	if heap < 0 {
		heap = 0
	}
	per := float64(heap+int64(len(m.set.mem))) / float64(m.Len())
	t.Logf("%d revocations: %.1f bytes each (table %d MiB, heap %d KiB)", m.Len(), per, len(m.set.mem)>>20, heap>>10)
	if per > 64 {
		t.Fatalf("%.1f bytes per revocation, want <= 64", per)
	}
	runtime.KeepAlive(m)
}

// The table grows as revocations come without a Reserve, and a purge
// keeps every live one and forgets every expired one.
func TestMirrorGrowsAndPurges(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	m := NewMirror()
	const n = 20_000
	ids := make([]string, n)
	for i := range ids {
		ids[i] = token.NewID()
		exp := now.Add(time.Hour)
		if i%2 == 1 {
			exp = now.Add(-time.Second)
		}
		m.Add(gatehouse.Revocation{Kind: gatehouse.RevokeToken, Value: ids[i], ExpiresAt: exp})
	}
	if m.Len() != n {
		t.Fatalf("Len = %d, want %d", m.Len(), n)
	}
	for i, id := range ids {
		if !m.Revoked(id, "") {
			t.Fatalf("revocation %d lost while the table grew", i)
		}
	}
	if got := m.Purge(now); got != n/2 || m.Len() != n/2 {
		t.Fatalf("Purge forgot %d and kept %d, want %d of each", got, m.Len(), n/2)
	}
	for i, id := range ids {
		if m.Revoked(id, "") != (i%2 == 0) {
			t.Fatalf("after the purge, revocation %d (live %v) revoked = %v", i, i%2 == 0, !(i%2 == 0))
		}
	}
	if m.Revoked(token.NewID(), token.NewID()) {
		t.Fatal("an unknown token is revoked")
	}
}
