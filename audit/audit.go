// Package audit records authentication and authorisation events (contract
// §9): each as one JSON line through slog and as a row in the database.
// Rows are written in batches by one goroutine, so recording an event costs
// the request a channel send; Close flushes what is queued.
package audit

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse"
)

// Recorder implements gatehouse.Auditor.
type Recorder struct {
	store gatehouse.AuditStore
	log   *slog.Logger
	now   func() time.Time
	queue chan item
	done  chan struct{}

	mu     sync.RWMutex // held to read closed and send, or to close queue
	closed bool
}

var _ gatehouse.Auditor = (*Recorder)(nil)

// item is a queued event, or a flush request (ev nil) whose channel is
// closed once everything queued before it is stored.
type item struct {
	ev      *gatehouse.AuditEvent
	flushed chan struct{}
}

// New starts a Recorder writing to store (nil: log only).
func New(store gatehouse.AuditStore, log *slog.Logger, now func() time.Time) *Recorder {
	if now == nil {
		now = time.Now
	}
	r := &Recorder{store: store, log: log, now: now, queue: make(chan item, 4096), done: make(chan struct{})}
	go r.run()
	return r
}

// Record logs e and queues it for the database. Request fields missing from
// e are taken from the request info in ctx.
func (r *Recorder) Record(ctx context.Context, e gatehouse.AuditEvent) {
	ri := gatehouse.RequestInfoFrom(ctx)
	if e.Time.IsZero() {
		e.Time = r.now().UTC()
	}
	if e.ClientIP == "" {
		e.ClientIP = ri.ClientIP()
	}
	if e.UserAgent == "" {
		e.UserAgent = ri.UserAgent
	}
	if e.RequestID == "" {
		e.RequestID = ri.RequestID
	}
	if e.Path == "" {
		e.Path = ri.Path
	}
	sanitize(&e)
	// The request id is added by the server's log handler, from ctx.
	r.log.LogAttrs(ctx, slog.LevelInfo, "audit",
		slog.String("event", e.Type), slog.String("outcome", e.Outcome), slog.Int64("user_id", e.UserID),
		slog.String("username", e.Username), slog.String("client_ip", e.ClientIP), slog.String("user_agent", e.UserAgent),
		slog.String("path", e.Path), slog.String("detail", e.Detail))
	if r.store == nil {
		return
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed { // a handler still running after a shutdown timed out
		r.log.Error("audit recorder closed: event kept in the log only", "event", e.Type)
		return
	}
	select {
	case r.queue <- item{ev: &e}:
	default:
		r.log.Error("audit queue full: event kept in the log only", "event", e.Type)
	}
}

func (r *Recorder) run() {
	defer close(r.done)
	var batch []*gatehouse.AuditEvent
	var waiting []chan struct{}
	for it := range r.queue {
		add := func(it item) {
			if it.ev != nil {
				batch = append(batch, it.ev)
			} else {
				waiting = append(waiting, it.flushed)
			}
		}
		add(it)
	fill:
		for len(batch) < 256 {
			select {
			case it, ok := <-r.queue:
				if !ok {
					break fill
				}
				add(it)
			default:
				break fill
			}
		}
		if len(batch) > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := r.store.AddAuditEvents(ctx, batch...)
			cancel()
			if err != nil {
				r.storeEach(batch, err)
			}
		}
		for _, c := range waiting {
			close(c)
		}
		batch, waiting = batch[:0], waiting[:0]
	}
}

// storeEach stores the events of a batch whose write failed one at a time,
// so that one event the store refuses cannot take the others with it: the
// batch is one transaction. The events that still fail are in the log
// already; this names them by type and request id only.
func (r *Recorder) storeEach(batch []*gatehouse.AuditEvent, batchErr error) {
	r.log.Warn("audit batch not stored, retrying its events one by one", "count", len(batch), "err", batchErr)
	// One deadline for all the retries: when the store is down, every
	// event fails, and the writer must not wait a full timeout for each.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, e := range batch {
		if err := r.store.AddAuditEvents(ctx, e); err != nil {
			r.log.Error("audit event not stored (it is in this log)", "event", e.Type, "outcome", e.Outcome,
				"request_id", e.RequestID, "err", err)
		}
	}
}

// Close stores what is queued and stops the writer. An event recorded
// after Close, by a request that outlived a shutdown's deadline, is kept
// in the log only.
func (r *Recorder) Close() {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.queue)
	}
	r.mu.Unlock()
	<-r.done
}

// Flush waits until every event recorded before the call is stored.
func (r *Recorder) Flush() {
	if r.store == nil {
		return
	}
	c := make(chan struct{})
	r.mu.RLock()
	if r.closed {
		r.mu.RUnlock()
		return // Close stored everything
	}
	r.queue <- item{flushed: c}
	r.mu.RUnlock()
	<-c
}

// Length limits of the free-text fields a client controls, in bytes.
const (
	maxUserAgent = 512
	maxUsername  = 256
)

// sanitize makes every text field of e storable: HTTP headers and decoded
// paths may hold any byte, and PostgreSQL refuses invalid UTF-8 and NUL in
// text columns, failing the whole batch the event is written in.
func sanitize(e *gatehouse.AuditEvent) {
	e.Type = cleanText(e.Type, 0)
	e.Outcome = cleanText(e.Outcome, 0)
	e.Username = cleanText(e.Username, maxUsername)
	e.ClientIP = cleanText(e.ClientIP, 0)
	e.UserAgent = cleanText(e.UserAgent, maxUserAgent)
	e.RequestID = cleanText(e.RequestID, 0)
	e.Path = cleanText(e.Path, 0)
	e.Detail = cleanText(e.Detail, 0)
}

// cleanText returns s as valid UTF-8 (each run of invalid bytes replaced by
// U+FFFD) without NUL bytes, cut to at most limit bytes (0: none) at a
// rune boundary so the cut cannot make it invalid again. Text already clean
// and short enough is returned as it is, without allocating.
func cleanText(s string, limit int) string {
	// ToValidUTF8 first: removing an ASCII byte from valid UTF-8 keeps it
	// valid, whereas removing NULs first could join stray bytes.
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "")
	if limit > 0 && len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return s
}
