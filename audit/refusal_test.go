package audit

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/fakeclock"
)

// lines counts the log lines with message "audit" that a handler wrote.
type lineCounter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *lineCounter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

func (c *lineCounter) audit() (lines, bytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range strings.Split(c.buf.String(), "\n") {
		if strings.Contains(l, `"msg":"audit"`) {
			lines++
		}
	}
	return lines, c.buf.Len()
}

// from returns a context whose request came from addr.
func from(addr string) context.Context {
	return gatehouse.WithRequestInfo(context.Background(), &gatehouse.RequestInfo{
		ClientAddr: netip.MustParseAddr(addr), Path: "/users/" + strings.Repeat("a", 60<<10), UserAgent: "flood/1"})
}

var (
	badKey   = gatehouse.AuditEvent{Type: gatehouse.EventAPIKeyRefused, Outcome: gatehouse.OutcomeFailure}
	badLogin = gatehouse.AuditEvent{Type: gatehouse.EventLogin, Outcome: gatehouse.OutcomeFailure, Username: "root",
		Detail: "Incorrect username or password"}
)

// totals sums the counts of the stored events by type, and counts their rows.
func totals(events []gatehouse.AuditEvent) (counts, rows map[string]int64) {
	counts, rows = map[string]int64{}, map[string]int64{}
	for _, e := range events {
		counts[e.Type] += e.Count
		rows[e.Type]++
	}
	return counts, rows
}

// Contract §12: a flood of refusals from one client adds a bounded number
// of rows and log lines per minute, whatever its size — and its count is
// kept, so the audit log still says how many there were.
func TestAFloodOfRefusalsFromOneClientAddsTwoRowsAndTwoLogLinesPerTypeAndMinute(t *testing.T) {
	clock := fakeclock.New(time.Date(2026, 5, 1, 12, 0, 5, 0, time.UTC))
	s := &fakeStore{}
	logs := &lineCounter{}
	r := New(s, slog.New(slog.NewJSONHandler(logs, nil)), clock.Now)
	t.Cleanup(r.Close)

	const n = 5000
	ctx := from("203.0.113.9")
	for range n {
		r.Record(ctx, badKey)
		r.Record(ctx, badLogin)
		clock.Advance(time.Millisecond) // the whole flood within one minute
	}
	r.Flush()

	counts, rows := totals(s.stored())
	for _, typ := range []string{badKey.Type, badLogin.Type} {
		if rows[typ] != 2 || counts[typ] != n {
			t.Errorf("%s: %d rows counting %d events, want 2 rows (the first in full, one summary) counting %d", typ, rows[typ], counts[typ], n)
		}
	}
	lines, size := logs.audit()
	if lines != 4 {
		t.Errorf("%d audit log lines, want 4: the first of each type and one summary each", lines)
	}
	if size > 16<<10 {
		t.Errorf("the log grew by %d bytes, want a few KiB", size)
	}
	var summary *gatehouse.AuditEvent
	for _, e := range s.stored() {
		if e.Type == badLogin.Type && e.Count > 1 {
			summary = &e
		}
	}
	if summary == nil || summary.Count != n-1 || summary.ClientIP != "203.0.113.9" || summary.Username != "root" ||
		summary.Outcome != gatehouse.OutcomeFailure || summary.Detail != badLogin.Detail || summary.RequestID != "" ||
		!strings.HasPrefix(summary.Path, "/users/aaa") || len(summary.Path) > 1024 {
		t.Errorf("the login summary %+v does not carry the %d refusals' shared fields", summary, n-1)
	}
}

// An attacker holding a whole IPv6 /64 (RFC 6177) is one client, however
// many of its addresses he sends from.
func TestAddressesOfOneIPv6Slash64AreOneClient(t *testing.T) {
	s := &fakeStore{}
	r := newRecorder(t, s)
	for i := range 1000 {
		r.Record(from(fmt.Sprintf("2001:db8:1:2::%x", i+1)), badKey)
	}
	r.Record(from("2001:db8:1:3::1"), badKey) // the next /64: another client
	r.Flush()
	counts, rows := totals(s.stored())
	if rows[badKey.Type] != 3 || counts[badKey.Type] != 1001 {
		t.Fatalf("%d rows counting %d, want 3 (first and summary of the /64, the other client's one) counting 1001",
			rows[badKey.Type], counts[badKey.Type])
	}
	var clients []string
	for _, e := range s.stored() {
		if e.Count > 1 {
			clients = append(clients, e.ClientIP)
		}
	}
	if len(clients) != 1 || clients[0] != "2001:db8:1:2::/64" {
		t.Fatalf("summaries name clients %q, want the /64", clients)
	}
}

// A window is a minute: once it has passed, the writer stores its summary
// without being asked, and the client's next refusal is stored in full.
func TestAPassedMinuteIsSummarisedAndANewOneStartsInFull(t *testing.T) {
	clock := fakeclock.New(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	s := &fakeStore{}
	r := New(s, slog.New(slog.DiscardHandler), clock.Now)
	t.Cleanup(r.Close)
	ctx := from("198.51.100.7")
	for range 10 {
		r.Record(ctx, badKey)
	}
	clock.Advance(time.Minute)
	// The writer sweeps every second; wait for it (no Flush: this is what
	// a running server does), with a deadline far beyond one sweep.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, rows := totals(s.stored()); rows[badKey.Type] == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no summary stored after the minute passed: %+v", s.stored())
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.Record(ctx, badKey) // a new minute
	r.Flush()
	var got []int64
	for _, e := range s.stored() {
		got = append(got, e.Count)
	}
	if fmt.Sprint(got) != "[1 9 1]" {
		t.Fatalf("counts of the rows in order %v, want [1 9 1]: first, summary of the minute, first of the next", got)
	}
}

// The table of open windows is bounded: past it, further clients share one
// window per type and minute, so a flood from many addresses costs bounded
// memory and rows, and still counts every refusal.
func TestOpenWindowsAreBoundedAndOverflowIsStillCounted(t *testing.T) {
	s := &fakeStore{}
	r := NewWithOptions(s, slog.New(slog.DiscardHandler), nil, Options{MaxWindows: 50})
	t.Cleanup(r.Close)
	const clients, each = 400, 5
	for c := range clients {
		ctx := from(fmt.Sprintf("10.0.%d.%d", c/256, c%256))
		for range each {
			r.Record(ctx, badKey)
		}
	}
	if n := r.openWindows(); n > 51 {
		t.Fatalf("%d open windows, want at most 50 and the shared one", n)
	}
	r.Flush()
	counts, rows := totals(s.stored())
	if counts[badKey.Type] != clients*each {
		t.Fatalf("stored rows count %d refusals, want %d", counts[badKey.Type], clients*each)
	}
	if rows[badKey.Type] > 2*51 {
		t.Fatalf("%d rows, want at most two for each of 51 windows", rows[badKey.Type])
	}
	var shared bool
	for _, e := range s.stored() {
		shared = shared || e.ClientIP == "*" && e.Count > 1
	}
	if !shared {
		t.Fatal("no summary of the shared window")
	}
}

// Real events are never aggregated, sampled or dropped: not while the
// database is stalled, not behind a flood of refusals from many clients.
func TestRealEventsAreNeverDroppedBehindAFloodOrAStalledStore(t *testing.T) {
	release := make(chan struct{})
	s := &fakeStore{hold: release}
	r := newRecorder(t, s)
	const real, refusals = 6000, 20000 // more real events than fit the queue while the store stalls

	var wg sync.WaitGroup
	wg.Go(func() {
		ctx := from("192.0.2.10")
		for i := range real {
			r.Record(ctx, gatehouse.AuditEvent{Type: gatehouse.EventLogin, Outcome: gatehouse.OutcomeSuccess, Detail: fmt.Sprint(i)})
		}
	})
	for i := range refusals { // from 2000 clients, while the store stalls
		r.Record(from(fmt.Sprintf("10.1.%d.%d", i%2000/256, i%256)), badKey)
	}
	close(release)
	wg.Wait()
	r.Flush()

	counts, rows := totals(s.stored())
	if rows[gatehouse.EventLogin] != real {
		t.Fatalf("%d of %d real events stored", rows[gatehouse.EventLogin], real)
	}
	if counts[badKey.Type] != refusals {
		t.Fatalf("refusals counted %d, want %d", counts[badKey.Type], refusals)
	}
	seen := map[string]bool{}
	for _, e := range s.stored() {
		if e.Type == gatehouse.EventLogin {
			seen[e.Detail] = true
		}
	}
	if len(seen) != real {
		t.Fatalf("%d distinct real events stored, want %d", len(seen), real)
	}
}

func TestOnlyFailuresAStrangerCanCauseAreRefusals(t *testing.T) {
	tests := []struct {
		typ, outcome string
		refusal      bool
	}{
		{gatehouse.EventLogin, gatehouse.OutcomeFailure, true},
		{gatehouse.EventAPIKeyRefused, gatehouse.OutcomeFailure, true},
		{gatehouse.EventRateLimited, gatehouse.OutcomeFailure, true},
		{gatehouse.EventPermissionRefused, gatehouse.OutcomeFailure, true},
		{gatehouse.EventTwoFactorFailed, gatehouse.OutcomeFailure, true},
		{gatehouse.EventLogin, gatehouse.OutcomeSuccess, false},
		{gatehouse.EventLogin, gatehouse.OutcomePending, false},
		{gatehouse.EventRefreshReuse, gatehouse.OutcomeFailure, false}, // a revocation
		{gatehouse.EventLogout, gatehouse.OutcomeSuccess, false},
		{gatehouse.EventUserDeleted, gatehouse.OutcomeSuccess, false},
		{gatehouse.EventTwoFactorDisabled, gatehouse.OutcomeSuccess, false},
		{gatehouse.EventAPIKeyRevoked, gatehouse.OutcomeSuccess, false},
		{"some_future_event", gatehouse.OutcomeFailure, false}, // real until classified
	}
	for _, tt := range tests {
		e := gatehouse.AuditEvent{Type: tt.typ, Outcome: tt.outcome}
		if got := e.Refusal(); got != tt.refusal {
			t.Errorf("%s/%s: Refusal() = %v, want %v", tt.typ, tt.outcome, got, tt.refusal)
		}
	}

	// And the recorder acts on it: real events from one client are each
	// stored, however many.
	s := &fakeStore{}
	r := newRecorder(t, s)
	ctx := from("192.0.2.1")
	for range 50 {
		r.Record(ctx, gatehouse.AuditEvent{Type: gatehouse.EventRefreshReuse, Outcome: gatehouse.OutcomeFailure})
		r.Record(ctx, gatehouse.AuditEvent{Type: gatehouse.EventLogin, Outcome: gatehouse.OutcomeSuccess})
	}
	r.Flush()
	if _, rows := totals(s.stored()); rows[gatehouse.EventRefreshReuse] != 50 || rows[gatehouse.EventLogin] != 50 {
		t.Fatalf("rows %v, want 50 of each real event", rows)
	}
}
