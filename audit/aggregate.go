package audit

import (
	"slices"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse"
)

// otherClients is the client of the windows shared by every client past
// the bound on open windows.
const otherClients = "*"

// windowKey names a refusal window: one client, one event type, one
// minute (Unix minutes).
type windowKey struct {
	client string
	typ    string
	minute int64
}

// window counts the refusals of one key after the first, which was written
// in full.
type window struct {
	pending int64                // refusals counted and not yet written
	sample  gatehouse.AuditEvent // the fields all pending refusals share; zero where they differ
	last    time.Time            // the time of the latest pending refusal
}

func (w *window) add(e *gatehouse.AuditEvent) {
	if w.pending == 0 {
		w.sample = *e
		detach(&w.sample)
	} else {
		s := &w.sample
		same := func(p *string, v string) {
			if *p != v {
				*p = ""
			}
		}
		same(&s.Outcome, e.Outcome)
		same(&s.Username, e.Username)
		same(&s.ClientIP, e.ClientIP)
		same(&s.UserAgent, e.UserAgent)
		same(&s.RequestID, e.RequestID)
		same(&s.Path, e.Path)
		same(&s.Detail, e.Detail)
		if s.UserID != e.UserID {
			s.UserID = 0
		}
	}
	w.pending += e.Count
	if e.Time.After(w.last) {
		w.last = e.Time
	}
}

// aggregator is the bounded table of open refusal windows.
type aggregator struct {
	mu      sync.Mutex
	windows map[windowKey]*window
	max     int   // open windows of single clients; the shared ones come on top
	oldest  int64 // no open window is of an earlier minute
}

// admit takes a refusal under k. It returns the key of the window that
// took it (the shared one when the table is full) and whether it opened
// that window: the first refusal of a window is to be written in full,
// and is not counted; the others are counted.
func (a *aggregator) admit(k windowKey, e *gatehouse.AuditEvent) (windowKey, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if w, ok := a.windows[k]; ok {
		w.add(e)
		return k, false
	}
	if len(a.windows) >= a.max {
		k.client = otherClients
		if w, ok := a.windows[k]; ok {
			w.add(e)
			return k, false
		}
	}
	a.open(k)
	return k, true
}

// count adds a refusal that opened window k but could not be written in
// full to the window's count.
func (a *aggregator) count(k windowKey, e *gatehouse.AuditEvent) {
	a.mu.Lock()
	defer a.mu.Unlock()
	w, ok := a.windows[k]
	if !ok { // closed by a sweep in between
		w = a.open(k)
	}
	w.add(e)
}

func (a *aggregator) open(k windowKey) *window {
	if len(a.windows) == 0 || k.minute < a.oldest {
		a.oldest = k.minute
	}
	w := &window{}
	a.windows[k] = w
	return w
}

// close removes the windows of minutes before now (all: every window) and
// returns the summaries of those that counted refusals, oldest first.
func (a *aggregator) close(now int64, all bool) []*gatehouse.AuditEvent {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.windows) == 0 || !all && a.oldest >= now {
		return nil
	}
	var out []*gatehouse.AuditEvent
	oldest := now
	for k, w := range a.windows {
		if !all && k.minute >= now {
			oldest = min(oldest, k.minute)
			continue
		}
		delete(a.windows, k)
		if w.pending == 0 {
			continue
		}
		s := w.sample
		s.ID, s.Type, s.Time, s.Count = 0, k.typ, w.last, w.pending
		if s.ClientIP == "" {
			s.ClientIP = k.client // an IPv6 /64, or "*" for the shared windows
		}
		out = append(out, &s)
	}
	a.oldest = oldest
	slices.SortFunc(out, func(x, y *gatehouse.AuditEvent) int { return x.Time.Compare(y.Time) })
	return out
}

// openWindows returns the number of open refusal windows.
func (r *Recorder) openWindows() int {
	r.agg.mu.Lock()
	defer r.agg.mu.Unlock()
	return len(r.agg.windows)
}
