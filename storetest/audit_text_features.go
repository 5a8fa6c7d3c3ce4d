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
		ClientIP: "2001:db8::1", UserAgent: text, RequestID: "req " + text, Path: "/" + text, Detail: "détail " + text, Count: 1}
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

// testAuditCount checks that an event's count is stored and read back, and
// that an event stored without one counts as a single event.
func testAuditCount(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	summary := &gatehouse.AuditEvent{Time: t0, Type: gatehouse.EventAPIKeyRefused, Outcome: gatehouse.OutcomeFailure, Count: 4812}
	single := &gatehouse.AuditEvent{Time: t0.Add(time.Second), Type: gatehouse.EventLogin, Outcome: gatehouse.OutcomeSuccess}
	if err := s.AddAuditEvents(ctx, summary, single); err != nil {
		t.Fatal(err)
	}
	got, err := s.AuditEvents(ctx, gatehouse.AuditFilter{})
	if err != nil || len(got) != 2 {
		t.Fatalf("AuditEvents = %+v, %v; want two events", got, err)
	}
	counts := map[int64]int64{got[0].ID: got[0].Count, got[1].ID: got[1].Count}
	if counts[summary.ID] != 4812 || counts[single.ID] != 1 {
		t.Fatalf("counts by id %v, want %d: 4812 and %d: 1", counts, summary.ID, single.ID)
	}
}
