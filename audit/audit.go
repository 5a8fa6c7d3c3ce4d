// Package audit records authentication and authorisation events (contract
// §9): each as one JSON line through slog and as a row in the database.
// Rows are written in batches by one goroutine, so recording an event costs
// the request a channel send; Close flushes what is queued.
//
// What a stranger can cause is bounded (contract §12). Every text field is
// capped. Refusals — failures anyone can provoke without credentials, see
// gatehouse.AuditEvent.Refusal — are aggregated per client, type and
// minute: the first is logged and stored in full, the others of that
// minute are only counted, and written as one summary row (and one log
// line) with their count when the minute has passed. So a flood of any
// size adds at most two rows and two log lines per client, type and
// minute, and a bounded table of open windows in memory. Real events
// (successes, pending logins, admin actions, revocations, reuse
// detection) are never aggregated and never dropped: they have a queue of
// their own, which the writer drains first.
package audit

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/ratelimit"
)

// Sizes of the queues and of the table of open refusal windows.
const (
	// realQueue holds real events waiting for the writer. When it is
	// full, Record blocks until the writer has made room (see Record).
	realQueue = 4096
	// refusalQueue holds refusals to be written in full, the first of
	// each window. When it is full, a refusal is counted in its window's
	// summary instead: never dropped, never blocking.
	refusalQueue = 1024
	// batchSize is the most events written in one transaction.
	batchSize = 256
	// sweepEvery is how often the writer looks for windows to close.
	sweepEvery = time.Second
)

// MaxWindows is the default bound of open refusal windows: beyond it,
// refusals from further clients share one window per type and minute
// (client "*"), so memory stays bounded however many addresses a flood
// comes from. A window holds at most one sample of each text field, about
// 2 KiB at the caps below.
const MaxWindows = 10000

// Recorder implements gatehouse.Auditor.
type Recorder struct {
	store gatehouse.AuditStore
	log   *slog.Logger
	now   func() time.Time

	real     chan *gatehouse.AuditEvent
	refusals chan *gatehouse.AuditEvent
	flushes  chan chan struct{}
	stop     chan struct{}
	done     chan struct{}

	mu     sync.RWMutex // held to read closed and send, or to set closed
	closed bool

	agg aggregator
}

var _ gatehouse.Auditor = (*Recorder)(nil)

// Options tune a Recorder; the zero value is the default.
type Options struct {
	// MaxWindows bounds the open refusal windows; 0: MaxWindows.
	MaxWindows int
}

// New starts a Recorder writing to store (nil: log only).
func New(store gatehouse.AuditStore, log *slog.Logger, now func() time.Time) *Recorder {
	return NewWithOptions(store, log, now, Options{})
}

// NewWithOptions is New with options.
func NewWithOptions(store gatehouse.AuditStore, log *slog.Logger, now func() time.Time, o Options) *Recorder {
	if now == nil {
		now = time.Now
	}
	if o.MaxWindows <= 0 {
		o.MaxWindows = MaxWindows
	}
	r := &Recorder{store: store, log: log, now: now,
		real:     make(chan *gatehouse.AuditEvent, realQueue),
		refusals: make(chan *gatehouse.AuditEvent, refusalQueue),
		flushes:  make(chan chan struct{}),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		agg:      aggregator{windows: map[windowKey]*window{}, max: o.MaxWindows},
	}
	go r.run()
	return r
}

// Record logs e and queues it for the database, or, for a refusal that is
// not the first of its client, type and minute, only counts it. Request
// fields missing from e are taken from the request info in ctx.
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
	if e.Count < 1 {
		e.Count = 1
	}
	sanitize(&e)
	if e.Refusal() {
		r.recordRefusal(ctx, ri, &e)
		return
	}
	r.logEvent(ctx, &e)
	if r.store == nil {
		return
	}
	detach(&e)
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed { // a handler still running after a shutdown timed out
		r.log.Error("audit recorder closed: event kept in the log only", "event", e.Type)
		return
	}
	// A real event is never dropped. When its queue is full the database
	// is behind, and the request waits for the writer, which drains this
	// queue before anything else, rather than lose the event: real events
	// come from authenticated actions and successful logins, whose own
	// cost (a password hash, a database write) bounds their rate, so the
	// wait is back-pressure on them alone. No refusal can fill this queue.
	r.real <- &e
}

// recordRefusal admits a refusal to its window: the first of the window is
// logged and queued in full, the others only counted.
func (r *Recorder) recordRefusal(ctx context.Context, ri *gatehouse.RequestInfo, e *gatehouse.AuditEvent) {
	k := windowKey{client: clientKey(ri.ClientAddr, e.ClientIP), typ: e.Type, minute: minuteOf(e.Time)}
	k, first := r.agg.admit(k, e)
	if !first {
		return
	}
	r.logEvent(ctx, e)
	if r.store == nil {
		return
	}
	detach(e)
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return // in the log; nothing is written any more
	}
	select {
	case r.refusals <- e:
	default:
		// The writer is behind: count the event in its window instead,
		// so its summary still says it happened.
		r.agg.count(k, e)
	}
}

// logEvent writes e's one log line. The request id is added by the
// server's log handler, from ctx.
func (r *Recorder) logEvent(ctx context.Context, e *gatehouse.AuditEvent) {
	attrs := []slog.Attr{
		slog.String("event", e.Type), slog.String("outcome", e.Outcome), slog.Int64("user_id", e.UserID),
		slog.String("username", e.Username), slog.String("client_ip", e.ClientIP), slog.String("user_agent", e.UserAgent),
		slog.String("path", e.Path), slog.String("detail", e.Detail),
	}
	if e.Count > 1 {
		attrs = append(attrs, slog.Int64("count", e.Count))
	}
	r.log.LogAttrs(ctx, slog.LevelInfo, "audit", attrs...)
}

func (r *Recorder) run() {
	defer close(r.done)
	tick := time.NewTicker(sweepEvery)
	defer tick.Stop()
	var batch []*gatehouse.AuditEvent
	for {
		// Real events first: a refusal never waits in front of one.
		select {
		case e := <-r.real:
			batch = append(batch, e)
		default:
			select {
			case e := <-r.real:
				batch = append(batch, e)
			case e := <-r.refusals:
				batch = append(batch, e)
			case <-tick.C:
				r.writeAll(r.sweep(false))
				continue
			case c := <-r.flushes:
				r.drain()
				close(c)
				continue
			case <-r.stop:
				r.drain()
				return
			}
		}
		r.write(r.fill(batch))
		batch = batch[:0]
	}
}

// fill adds queued events to batch, real ones first, up to batchSize.
func (r *Recorder) fill(batch []*gatehouse.AuditEvent) []*gatehouse.AuditEvent {
	for _, q := range []chan *gatehouse.AuditEvent{r.real, r.refusals} {
		for more := true; more && len(batch) < batchSize; {
			select {
			case e := <-q:
				batch = append(batch, e)
			default:
				more = false
			}
		}
	}
	return batch
}

// drain writes everything queued, then closes every open window, the
// current minute's too, writing their summaries: what Flush and Close
// promise.
func (r *Recorder) drain() {
	for {
		batch := r.fill(nil)
		if len(batch) == 0 {
			break
		}
		r.write(batch)
	}
	r.writeAll(r.sweep(true))
}

// sweep closes the windows of minutes that have passed (all: every
// window), logs a line for each summary and returns the summaries.
func (r *Recorder) sweep(all bool) []*gatehouse.AuditEvent {
	summaries := r.agg.close(minuteOf(r.now()), all)
	for _, s := range summaries {
		r.logEvent(context.Background(), s)
	}
	return summaries
}

func (r *Recorder) writeAll(events []*gatehouse.AuditEvent) {
	for len(events) > 0 {
		n := min(len(events), batchSize)
		r.write(events[:n])
		events = events[n:]
	}
}

func (r *Recorder) write(batch []*gatehouse.AuditEvent) {
	if len(batch) == 0 || r.store == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err := r.store.AddAuditEvents(ctx, batch...)
	cancel()
	if err != nil {
		r.storeEach(batch, err)
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

// Close stores what is queued and the summaries of every open window, and
// stops the writer. An event recorded after Close, by a request that
// outlived a shutdown's deadline, is kept in the log only.
func (r *Recorder) Close() {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.stop)
	}
	r.mu.Unlock()
	<-r.done
}

// Flush waits until every event recorded before the call is stored,
// closing the open refusal windows so that their counts are stored too.
func (r *Recorder) Flush() {
	c := make(chan struct{})
	r.mu.RLock()
	if r.closed {
		r.mu.RUnlock()
		return // Close stored everything
	}
	r.flushes <- c
	r.mu.RUnlock()
	<-c
}

// Length limits of the text fields, in bytes (contract §12: a path at
// 1 KiB). A longer value is cut at a rune boundary and ends in "…".
const (
	maxPath      = 1024
	maxUserAgent = 256
	maxDetail    = 512
	maxUsername  = 128
	maxRequestID = 128
	maxClientIP  = 64
	maxType      = 64
)

// truncated marks a value that was cut.
const truncated = "…"

// sanitize makes every text field of e storable and bounded: HTTP headers
// and decoded paths may hold any byte, and PostgreSQL refuses invalid UTF-8
// and NUL in text columns, failing the whole batch the event is written in.
func sanitize(e *gatehouse.AuditEvent) {
	e.Type = cleanText(e.Type, maxType)
	e.Outcome = cleanText(e.Outcome, maxType)
	e.Username = cleanText(e.Username, maxUsername)
	e.ClientIP = cleanText(e.ClientIP, maxClientIP)
	e.UserAgent = cleanText(e.UserAgent, maxUserAgent)
	e.RequestID = cleanText(e.RequestID, maxRequestID)
	e.Path = cleanText(e.Path, maxPath)
	e.Detail = cleanText(e.Detail, maxDetail)
}

// cleanText returns s as valid UTF-8 (each run of invalid bytes replaced by
// U+FFFD) without NUL bytes, and at most limit bytes long: a longer value
// is cut at a rune boundary, so the cut cannot make it invalid again, and
// ends in "…". Text already clean and short enough is returned as it is,
// without allocating.
func cleanText(s string, limit int) string {
	// ToValidUTF8 first: removing an ASCII byte from valid UTF-8 keeps it
	// valid, whereas removing NULs first could join stray bytes.
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "")
	if len(s) > limit {
		cut := limit - len(truncated)
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + truncated // a new string: the long one is not kept alive
	}
	return s
}

// detach gives e's text fields memory of their own. A short path can be a
// substring of a request line of many kilobytes (the query follows it),
// which a queued event or an open window would otherwise keep alive.
func detach(e *gatehouse.AuditEvent) {
	for _, p := range []*string{&e.Type, &e.Outcome, &e.Username, &e.ClientIP, &e.UserAgent, &e.RequestID, &e.Path, &e.Detail} {
		*p = strings.Clone(*p)
	}
}

// clientKey is the client a refusal is counted against: its address, an
// IPv6 address's /64 (as for rate limits: one subscriber holds a whole
// /64 and could otherwise rotate through it), "" when unknown.
func clientKey(addr netip.Addr, ip string) string {
	if !addr.IsValid() {
		a, err := netip.ParseAddr(ip)
		if err != nil {
			return ""
		}
		addr = a
	}
	return ratelimit.AddrKey(addr)
}

func minuteOf(t time.Time) int64 { return t.Unix() / 60 }
