// Package audit records authentication and authorisation events (contract
// §9): each as one JSON line through slog and as a row in the database.
// Rows are written in batches by one goroutine, so recording an event costs
// the request a channel send; Close flushes what is queued.
package audit

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse"
)

// Recorder implements gatehouse.Auditor.
type Recorder struct {
	store gatehouse.AuditStore
	log   *slog.Logger
	now   func() time.Time
	queue chan item
	done  chan struct{}
	once  sync.Once
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
	if len(e.UserAgent) > 512 {
		e.UserAgent = e.UserAgent[:512]
	}
	if len(e.Username) > 256 {
		e.Username = e.Username[:256]
	}
	// The request id is added by the server's log handler, from ctx.
	r.log.LogAttrs(ctx, slog.LevelInfo, "audit",
		slog.String("event", e.Type), slog.String("outcome", e.Outcome), slog.Int64("user_id", e.UserID),
		slog.String("username", e.Username), slog.String("client_ip", e.ClientIP), slog.String("user_agent", e.UserAgent),
		slog.String("path", e.Path), slog.String("detail", e.Detail))
	if r.store == nil {
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
			if err := r.store.AddAuditEvents(ctx, batch...); err != nil {
				r.log.Error("audit events not stored (they are in this log)", "count", len(batch), "err", err)
			}
			cancel()
		}
		for _, c := range waiting {
			close(c)
		}
		batch, waiting = batch[:0], waiting[:0]
	}
}

// Close stores what is queued and stops the writer. Record must not be
// called after Close.
func (r *Recorder) Close() {
	r.once.Do(func() { close(r.queue) })
	<-r.done
}

// Flush waits until every event recorded before the call is stored.
func (r *Recorder) Flush() {
	if r.store == nil {
		return
	}
	c := make(chan struct{})
	r.queue <- item{flushed: c}
	<-c
}
