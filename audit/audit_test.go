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

func newRecorder(t *testing.T, s *fakeStore) *Recorder {
	t.Helper()
	r := New(s, slog.New(slog.DiscardHandler), nil)
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
				{"Type", e.Type, 0}, {"Outcome", e.Outcome, 0}, {"Username", e.Username, 256},
				{"ClientIP", e.ClientIP, 0}, {"UserAgent", e.UserAgent, 512}, {"RequestID", e.RequestID, 0},
				{"Path", e.Path, 0}, {"Detail", e.Detail, 0},
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

func TestRecordCutsLongFieldsAtTheLastWholeRune(t *testing.T) {
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
	if want := strings.Repeat("✓", 170); got[0].UserAgent != want { // 510 bytes: 171 runes would be 513
		t.Errorf("UserAgent cut to %d bytes, want %d (%d whole runes)", len(got[0].UserAgent), len(want), 170)
	}
	if want := "x" + strings.Repeat("é", 127); got[0].Username != want { // 255 bytes
		t.Errorf("Username cut to %d bytes, want %d", len(got[0].Username), len(want))
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
