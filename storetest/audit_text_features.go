package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// testAuditNonASCII checks that valid non-ASCII UTF-8, which the audit
// recorder passes through unchanged, is stored and read back byte for byte
// in every text field.
func testAuditNonASCII(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	const text = "café ✓"
	want := gatehouse.AuditEvent{Time: t0, Type: "login", Outcome: "failure", UserID: 7, Username: "zoë " + text,
		ClientIP: "2001:db8::1", UserAgent: text, RequestID: "req " + text, Path: "/" + text, Detail: "détail " + text}
	e := want
	if err := s.AddAuditEvents(ctx, &e); err != nil {
		t.Fatal(err)
	}
	got, err := s.AuditEvents(ctx, gatehouse.AuditFilter{})
	if err != nil || len(got) != 1 {
		t.Fatalf("AuditEvents = %+v, %v; want one event", got, err)
	}
	g := *got[0]
	if !g.Time.Equal(want.Time) {
		t.Fatalf("read back time %v, want %v", g.Time, want.Time)
	}
	g.Time, want.Time, want.ID = time.Time{}, time.Time{}, e.ID
	if g != want {
		t.Fatalf("read back %+v, want %+v", g, want)
	}
}
