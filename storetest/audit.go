package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

func testAuditEvents(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	var events []*gatehouse.AuditEvent
	for i := range 6 {
		events = append(events, &gatehouse.AuditEvent{
			Time: t0.Add(time.Duration(i) * time.Minute), Type: []string{"login", "logout"}[i%2], Outcome: "success",
			UserID: int64(1 + i%3), Username: fmt.Sprint("u", i), ClientIP: "192.0.2.1", UserAgent: "ua",
			RequestID: fmt.Sprint("req", i), Path: "/token", Detail: "d", Count: 1,
		})
	}
	if err := s.AddAuditEvents(ctx, events[:2]...); err != nil {
		t.Fatal(err)
	}
	if err := s.AddAuditEvents(ctx, events[2:]...); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(events); i++ {
		if events[i].ID <= events[i-1].ID {
			t.Fatalf("event ids not set in order: %d then %d", events[i-1].ID, events[i].ID)
		}
	}
	// ids returns the indexes into events of the events in got.
	ids := func(got []*gatehouse.AuditEvent) []int {
		var out []int
		for _, g := range got {
			for i, e := range events {
				if e.ID == g.ID {
					out = append(out, i)
				}
			}
		}
		return out
	}
	tests := []struct {
		name string
		f    gatehouse.AuditFilter
		want []int
	}{
		{"everything, newest first", gatehouse.AuditFilter{}, []int{5, 4, 3, 2, 1, 0}},
		{"by user", gatehouse.AuditFilter{UserID: 2}, []int{4, 1}},
		{"by type", gatehouse.AuditFilter{Type: "logout"}, []int{5, 3, 1}},
		{"since is inclusive, until exclusive", gatehouse.AuditFilter{Since: t0.Add(time.Minute), Until: t0.Add(4 * time.Minute)}, []int{3, 2, 1}},
		{"user and type together", gatehouse.AuditFilter{UserID: 1, Type: "logout"}, []int{3}},
		{"first page", gatehouse.AuditFilter{Limit: 4}, []int{5, 4, 3, 2}},
		{"next page, before the last seen id", gatehouse.AuditFilter{Limit: 4, Before: events[2].ID}, []int{1, 0}},
		{"a cursor combines with filters", gatehouse.AuditFilter{Type: "login", Before: events[4].ID}, []int{2, 0}},
	}
	for _, tt := range tests {
		got, err := s.AuditEvents(ctx, tt.f)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if g := ids(got); fmt.Sprint(g) != fmt.Sprint(tt.want) {
			t.Fatalf("%s: events %v, want %v", tt.name, g, tt.want)
		}
	}
	got, err := s.AuditEvents(ctx, gatehouse.AuditFilter{Before: events[4].ID, Limit: 1})
	if err != nil || len(got) != 1 {
		t.Fatalf("read back: %+v, %v", got, err)
	}
	e, want := *got[0], *events[3]
	if !e.Time.Equal(want.Time) {
		t.Fatalf("read back time %v, want %v", e.Time, want.Time)
	}
	e.Time, want.Time = time.Time{}, time.Time{}
	if e != want {
		t.Fatalf("read back %+v, want %+v", e, want)
	}
}

func testPurgeAudit(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	for i := range 3 {
		if err := s.AddAuditEvents(ctx, &gatehouse.AuditEvent{Time: t0.Add(time.Duration(i) * time.Hour), Type: "login", Outcome: "failure"}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.PurgeAudit(ctx, t0.Add(time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("PurgeAudit = %d, %v; want 1", n, err)
	}
	left, err := s.AuditEvents(ctx, gatehouse.AuditFilter{})
	if err != nil || len(left) != 2 || !left[1].Time.Equal(t0.Add(time.Hour)) {
		t.Fatalf("after purge: %+v, %v", left, err)
	}
}

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
