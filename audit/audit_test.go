package audit

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/fakeclock"
)

// fakeStore is an AuditStore that keeps events in memory. Like the real
// backends it writes a batch in one transaction: when refuse says no to any
// event of a batch, none of the batch is stored.
type fakeStore struct {
	refuse func(*gatehouse.AuditEvent) bool // nil: accept everything

	mu      sync.Mutex
	events  []gatehouse.AuditEvent
	batches []int // the size of each AddAuditEvents call
	failed  []int // the size of each refused AddAuditEvents call
	hold    chan struct{}
}

var _ gatehouse.AuditStore = (*fakeStore)(nil)

func (s *fakeStore) AddAuditEvents(ctx context.Context, events ...*gatehouse.AuditEvent) error {
	s.mu.Lock()
	hold := s.hold
	s.hold = nil
	s.mu.Unlock()
	if hold != nil {
		<-hold
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches = append(s.batches, len(events))
	for _, e := range events {
		if s.refuse != nil && s.refuse(e) {
			s.failed = append(s.failed, len(events))
			return errors.New("fake: event refused")
		}
	}
	for _, e := range events {
		s.events = append(s.events, *e)
	}
	return nil
}

func (s *fakeStore) AuditEvents(ctx context.Context, f gatehouse.AuditFilter) ([]*gatehouse.AuditEvent, error) {
	return nil, errors.New("fake: not implemented")
}

func (s *fakeStore) PurgeAudit(ctx context.Context, t time.Time) (int64, error) {
	return 0, errors.New("fake: not implemented")
}

func (s *fakeStore) stored() []gatehouse.AuditEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events)
}

// newRecorder is a recorder on a clock that stands still, so that no
// test's refusals straddle the turn of a minute (a new window).
func newRecorder(t *testing.T, s *fakeStore) *Recorder {
	t.Helper()
	r := New(s, slog.New(slog.DiscardHandler), fakeclock.New(time.Date(2026, 5, 1, 12, 0, 30, 0, time.UTC)).Now)
	t.Cleanup(r.Close)
	return r
}

func TestRecordStoresValidUTF8WithoutNULCutOnRuneBoundaries(t *testing.T) {
	tests := []struct {
		name      string
		userAgent string
		path      string // from the request info, as the HTTP layer sets it
		username  string
	}{
		{"invalid bytes and NUL", "\xff\x00ok", "/login/\xff\x00", "al\x00ice\xc3"},
		{"multi-byte runes past the limits", strings.Repeat("✓", 200), "/p", strings.Repeat("é", 200)},
		{"a stray byte before multi-byte runes past the limit", "\xff" + strings.Repeat("✓", 200), "/p", "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &fakeStore{}
			r := newRecorder(t, s)
			ctx := gatehouse.WithRequestInfo(context.Background(), &gatehouse.RequestInfo{Path: tt.path, RequestID: "req\x00\x80"})
			r.Record(ctx, gatehouse.AuditEvent{Type: "login", Outcome: "failure", Username: tt.username,
				UserAgent: tt.userAgent, Detail: "d\xfe"})
			r.Flush()
			got := s.stored()
			if len(got) != 1 {
				t.Fatalf("stored %d events, want 1", len(got))
			}
			e := got[0]
			for _, f := range []struct {
				name, value string
				limit       int
			}{
				{"Type", e.Type, 64}, {"Outcome", e.Outcome, 64}, {"Username", e.Username, 128},
				{"ClientIP", e.ClientIP, 64}, {"UserAgent", e.UserAgent, 256}, {"RequestID", e.RequestID, 128},
				{"Path", e.Path, 1024}, {"Detail", e.Detail, 512},
			} {
				if !utf8.ValidString(f.value) {
					t.Errorf("%s = %q: not valid UTF-8", f.name, f.value)
				}
				if strings.Contains(f.value, "\x00") {
					t.Errorf("%s = %q: holds NUL", f.name, f.value)
				}
				if f.limit > 0 && len(f.value) > f.limit {
					t.Errorf("%s is %d bytes, want at most %d", f.name, len(f.value), f.limit)
				}
			}
		})
	}
}

func TestRecordCutsLongFieldsAtTheLastWholeRuneAndMarksTheCut(t *testing.T) {
	s := &fakeStore{}
	r := newRecorder(t, s)
	ua := strings.Repeat("✓", 200) // 600 bytes of 3-byte runes
	name := "x" + strings.Repeat("é", 200)
	r.Record(context.Background(), gatehouse.AuditEvent{Type: "login", UserAgent: ua, Username: name})
	r.Flush()
	got := s.stored()
	if len(got) != 1 {
		t.Fatalf("stored %d events, want 1", len(got))
	}
	// 256 bytes with the 3-byte mark: 253 for the text, 84 whole runes (252 bytes).
	if want := strings.Repeat("✓", 84) + "…"; got[0].UserAgent != want {
		t.Errorf("UserAgent cut to %q (%d bytes), want %d whole runes and the mark", got[0].UserAgent, len(got[0].UserAgent), 84)
	}
	// 128 bytes with the mark: 125 for the text, "x" and 62 "é" (125 bytes).
	if want := "x" + strings.Repeat("é", 62) + "…"; got[0].Username != want {
		t.Errorf("Username cut to %q (%d bytes), want %d", got[0].Username, len(got[0].Username), len(want))
	}
}

// Contract §12: a request's path is kept to 1 KiB, and every other text
// field a client controls is capped too, so no single request can make
// an audit row or log line large.
func TestRecordCapsEveryTextFieldOfAHugeRequest(t *testing.T) {
	s := &fakeStore{}
	var logs strings.Builder
	r := New(s, slog.New(slog.NewJSONHandler(&logs, nil)), nil)
	t.Cleanup(r.Close)
	huge := strings.Repeat("a", 60<<10)
	ctx := gatehouse.WithRequestInfo(context.Background(), &gatehouse.RequestInfo{Path: "/users/" + huge, UserAgent: huge})
	r.Record(ctx, gatehouse.AuditEvent{Type: gatehouse.EventUserDeleted, Outcome: gatehouse.OutcomeSuccess,
		Username: huge, Detail: huge})
	r.Flush()
	got := s.stored()
	if len(got) != 1 {
		t.Fatalf("stored %d events, want 1", len(got))
	}
	e := got[0]
	for _, f := range []struct {
		name, value string
		limit       int
	}{{"Path", e.Path, 1024}, {"UserAgent", e.UserAgent, 256}, {"Detail", e.Detail, 512}, {"Username", e.Username, 128}} {
		if len(f.value) > f.limit || !strings.HasSuffix(f.value, "…") || len(f.value) < f.limit-3 {
			t.Errorf("%s is %d bytes (%q…), want at most %d ending in the mark", f.name, len(f.value), f.value[:min(len(f.value), 12)], f.limit)
		}
	}
	if !strings.HasPrefix(e.Path, "/users/aaa") {
		t.Errorf("Path %q does not keep its beginning", e.Path[:20])
	}
	if n := logs.Len(); n > 4<<10 {
		t.Errorf("the log line is %d bytes, want a few KiB at most", n)
	}
}

func TestRecordKeepsCleanTextAsItIs(t *testing.T) {
	s := &fakeStore{}
	r := newRecorder(t, s)
	want := gatehouse.AuditEvent{Type: "login", Outcome: "success", Username: "zoë", ClientIP: "192.0.2.1",
		UserAgent: "café ✓", RequestID: "req-1", Path: "/café", Detail: "ünïcode"}
	r.Record(context.Background(), want)
	r.Flush()
	got := s.stored()
	if len(got) != 1 {
		t.Fatalf("stored %d events, want 1", len(got))
	}
	got[0].Time = want.Time
	want.Count = 1 // one event
	if got[0] != want {
		t.Fatalf("stored %+v, want %+v", got[0], want)
	}
}

func TestOneRefusedEventDoesNotDropTheRestOfItsBatch(t *testing.T) {
	release := make(chan struct{})
	s := &fakeStore{refuse: func(e *gatehouse.AuditEvent) bool { return e.Detail == "poison" }, hold: release}
	r := newRecorder(t, s)
	ctx := context.Background()
	// The first write blocks until the rest are queued, so the writer
	// takes them as one batch.
	r.Record(ctx, gatehouse.AuditEvent{Type: "login", Detail: "first"})
	for _, d := range []string{"a", "poison", "b", "c"} {
		r.Record(ctx, gatehouse.AuditEvent{Type: "login", Detail: d})
	}
	close(release)
	r.Flush()

	var got []string
	for _, e := range s.stored() {
		got = append(got, e.Detail)
	}
	if want := []string{"first", "a", "b", "c"}; !slices.Equal(got, want) {
		t.Errorf("stored %q, want %q", got, want)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.ContainsFunc(s.failed, func(n int) bool { return n > 1 }) {
		t.Errorf("no batch of several events was refused (refused batch sizes %v): the test did not exercise the retry", s.failed)
	}
}

// A request that outlives a shutdown's deadline may record after Close:
// the event goes to the log only, and nothing panics (a send on the closed
// queue would take the process down mid-shutdown).
func TestRecordAfterCloseKeepsTheEventInTheLogOnly(t *testing.T) {
	s := &fakeStore{}
	var logs strings.Builder
	r := New(s, slog.New(slog.NewTextHandler(&logs, nil)), nil)
	r.Record(context.Background(), gatehouse.AuditEvent{Type: gatehouse.EventLogin, Outcome: gatehouse.OutcomeSuccess})
	r.Close()
	r.Record(context.Background(), gatehouse.AuditEvent{Type: gatehouse.EventLogout, Outcome: gatehouse.OutcomeSuccess})
	r.Flush()
	r.Close()
	if got := s.stored(); len(got) != 1 || got[0].Type != gatehouse.EventLogin {
		t.Fatalf("stored %+v, want only the event recorded before Close", got)
	}
	if !strings.Contains(logs.String(), "event="+gatehouse.EventLogout) {
		t.Errorf("the late event is not in the log:\n%s", logs.String())
	}
}
