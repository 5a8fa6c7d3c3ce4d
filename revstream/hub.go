// Package revstream publishes Gatehouse's revocations as a stream that
// resource servers follow, so that a service verifying tokens locally
// (from /.well-known/jwks.json) still refuses a logged-out session, a
// revoked token or a disabled, deleted or demoted user's tokens within
// milliseconds, not when the token expires.
//
// The stream is Server-Sent Events (the WHATWG HTML standard's
// text/event-stream) on one long GET. Each event's id is the sequence
// number of the change-feed entry it comes from (gatehouse.ChangeFeed),
// which every instance shares, so a client that reconnects — to the same
// instance or another, or after a restart — sends Last-Event-ID and gets
// what it missed, or, when that is no longer held, a snapshot of
// everything live. Events:
//
//	event: revoke   data: {"jti":"…","exp":1767225600}   a token is revoked
//	event: revoke   data: {"sid":"…","exp":1767225600}   every token of a login session is
//	event: user     data: {"sub":"42","state":"disabled","scope":"","exp":1767225600}
//	event: sync     data: {"seq":1234}                    caught up (snapshot or backlog sent)
//
// A user event gives the user's state now — "active", "disabled" or
// "deleted" — and the scopes the user may still hold: until exp, a token
// of sub is refused unless the state is active, and its scopes are cut to
// scope (a demotion). exp is when an entry may be forgotten: every token it
// concerns has expired by then. Comments (": ping") are heartbeats.
//
// The Hub reads the change feed — at once when told (Kick) and every Poll
// otherwise — keeps the user entries and a backlog of recent events in
// memory (a snapshot's revocations are read from the store when a client
// needs one: they are not held twice in the server), and fans each event out to every stream through a bounded queue; a stream
// that falls behind is closed, and its client resumes from the backlog.
package revstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/rbac"
)

// Source is what the hub reads: the change feed, the durable
// revocations, and users. gatehouse.Store is one.
type Source interface {
	LatestChange(ctx context.Context) (int64, error)
	ChangesSince(ctx context.Context, after int64, limit int) ([]gatehouse.Change, error)
	EachRevocation(ctx context.Context, now time.Time, fn func(gatehouse.Revocation) error) error
	UserByID(ctx context.Context, id int64) (*gatehouse.User, error)
}

// Defaults of Config.
const (
	DefaultPoll       = 500 * time.Millisecond
	DefaultHeartbeat  = 15 * time.Second
	DefaultMaxStreams = 64
	DefaultBacklog    = 10_000
	DefaultBuffer     = 1024
)

// Config configures a Hub.
type Config struct {
	Source Source // required
	// Lifetime is the longest an access token lives, leeway included:
	// how long a user entry is kept after the change. Required.
	Lifetime time.Duration
	// Poll is how often the change feed is read without a Kick (changes
	// made by another process: the CLI, an instance without Redis).
	Poll time.Duration
	// Heartbeat is how often an idle stream gets a comment, and how often
	// a stream's credential is checked again.
	Heartbeat time.Duration
	// MaxStreams bounds the streams open at once; beyond, 503.
	MaxStreams int
	// Backlog is how many recent events are kept for clients that resume
	// with Last-Event-ID; an older one gets a snapshot.
	Backlog int
	// Buffer is how many events may wait for one slow stream before it is
	// closed (its client resumes where it was).
	Buffer int
	Now    func() time.Time
	Logger *slog.Logger
}

// Hub follows the change feed and serves the stream. It is safe for
// concurrent use.
type Hub struct {
	cfg  Config
	log  *slog.Logger
	kick chan struct{}

	pollMu sync.Mutex // one reader of the feed at a time

	mu          sync.Mutex
	loaded      bool
	closed      bool
	seq         int64               // last change applied
	users       map[int64]userEntry // → the user's state when last changed
	backlog     []frame             // recent events, oldest first
	backlogFrom int64               // every event with a seq above this is in backlog
	subs        map[*stream]struct{}
	lastPurge   time.Time
}

type userEntry struct {
	state, scope string
	exp          int64
}

// frame is one encoded event.
type frame struct {
	seq int64
	b   []byte
}

// stream is one client's connection.
type stream struct {
	ch   chan []byte
	gone chan struct{} // closed when the hub drops the stream
}

// User states in user events.
const (
	StateActive   = "active"
	StateDisabled = "disabled"
	StateDeleted  = "deleted"
)

// New checks cfg and returns a Hub. It reads nothing yet: call Load.
func New(cfg Config) (*Hub, error) {
	if cfg.Source == nil || cfg.Lifetime <= 0 {
		return nil, errors.New("revstream: Source and Lifetime are required")
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.MaxStreams <= 0 {
		cfg.MaxStreams = DefaultMaxStreams
	}
	if cfg.Backlog <= 0 {
		cfg.Backlog = DefaultBacklog
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = DefaultBuffer
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Hub{cfg: cfg, log: cfg.Logger, kick: make(chan struct{}, 1), users: map[int64]userEntry{}, subs: map[*stream]struct{}{}}, nil
}

// Load replays the change feed, so that the hub holds the user entries a
// snapshot needs and a backlog for clients resuming across a restart.
// Streams are refused (503) until it has succeeded. The revocations of a
// snapshot are not held here: each snapshot reads them from the store
// (a million live revocations would otherwise be a second copy in memory
// beside the auth service's mirror).
func (h *Hub) Load(ctx context.Context) error {
	h.mu.Lock()
	h.backlogFrom = -1 // set from the first change read
	h.mu.Unlock()
	if err := h.Poll(ctx); err != nil {
		return fmt.Errorf("revstream: load: %w", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.backlogFrom < 0 {
		h.backlogFrom = h.seq
	}
	h.loaded = true
	return nil
}

// Kick tells the hub that the change feed holds news (a revocation or a
// user change committed here, or announced by another instance): it reads
// it at once rather than at the next Poll. It never blocks.
func (h *Hub) Kick() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// Run reads the change feed on every Kick and every Poll until ctx ends,
// logging failures (the streams carry on; the next read catches up).
func (h *Hub) Run(ctx context.Context) {
	t := time.NewTicker(h.cfg.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-h.kick:
		}
		if err := h.Poll(ctx); err != nil && ctx.Err() == nil {
			h.log.WarnContext(ctx, "revocation stream: reading the change feed failed", "err", err)
		}
	}
}

// Poll applies the changes recorded since the last one and sends their
// events to every stream.
func (h *Hub) Poll(ctx context.Context) error {
	h.pollMu.Lock()
	defer h.pollMu.Unlock()
	for {
		h.mu.Lock()
		after := h.seq
		h.mu.Unlock()
		changes, err := h.cfg.Source.ChangesSince(ctx, after, 1000)
		if err != nil {
			return fmt.Errorf("revstream: changes since %d: %w", after, err)
		}
		// Users are read outside the lock: the store may take a while.
		states := map[int64]userEntry{}
		for _, c := range changes {
			if c.UserID != 0 {
				if _, done := states[c.UserID]; !done {
					e, err := h.userState(ctx, c.UserID)
					if err != nil {
						return err
					}
					states[c.UserID] = e
				}
			}
		}
		h.mu.Lock()
		for _, c := range changes {
			if h.backlogFrom < 0 {
				h.backlogFrom = c.Seq - 1
			}
			if r := c.Revocation; r != nil && h.addRevocation(*r) {
				h.publish(c.Seq, revocationFrame(c.Seq, *r))
			}
			if c.UserID != 0 {
				e := states[c.UserID]
				h.users[c.UserID] = e
				h.publish(c.Seq, userFrame(c.Seq, c.UserID, e))
			}
			h.seq = c.Seq
		}
		h.purgeLocked()
		h.mu.Unlock()
		if len(changes) < 1000 {
			return nil
		}
	}
}

// userState reads the user's state now, as a user event gives it.
func (h *Hub) userState(ctx context.Context, id int64) (userEntry, error) {
	e := userEntry{state: StateActive, exp: h.cfg.Now().Add(h.cfg.Lifetime).Unix()}
	u, err := h.cfg.Source.UserByID(ctx, id)
	switch {
	case gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND:
		e.state = StateDeleted
	case err != nil:
		return e, fmt.Errorf("revstream: user %d: %w", id, err)
	case u.Disabled:
		e.state = StateDisabled
	default:
		e.scope = rbac.AllowedScopes(u.Role)
	}
	return e, nil
}

// addRevocation reports whether r is live and well formed: every such
// revocation read from the feed is an event, so that no client resuming
// from the backlog misses it.
func (h *Hub) addRevocation(r gatehouse.Revocation) bool {
	return (r.Kind == gatehouse.RevokeToken || r.Kind == gatehouse.RevokeSession) && r.Value != "" && r.ExpiresAt.After(h.cfg.Now())
}

// publish appends an event to the backlog and queues it on every stream;
// a stream whose queue is full is dropped (its client resumes). Called
// with mu held.
func (h *Hub) publish(seq int64, b []byte) {
	h.backlog = append(h.backlog, frame{seq, b})
	// Trimmed by a quarter at a time, not one event at a time.
	if over := len(h.backlog) - h.cfg.Backlog; over > h.cfg.Backlog/4 {
		h.backlogFrom = h.backlog[over-1].seq
		h.backlog = append(h.backlog[:0], h.backlog[over:]...)
	}
	for s := range h.subs {
		select {
		case s.ch <- b:
		default:
			h.dropLocked(s)
		}
	}
}

func (h *Hub) dropLocked(s *stream) {
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		close(s.gone)
	}
}

// purgeLocked forgets expired entries, at most once a minute.
func (h *Hub) purgeLocked() {
	now := h.cfg.Now()
	if now.Sub(h.lastPurge) < time.Minute {
		return
	}
	h.lastPurge = now
	n := now.Unix()
	for id, e := range h.users {
		if e.exp <= n {
			delete(h.users, id)
		}
	}
}

// Close ends every stream and refuses new ones: for a server shutting
// down, whose Shutdown would otherwise wait for the streams.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.subs {
		h.dropLocked(s)
	}
}

// Streams returns how many streams are open.
func (h *Hub) Streams() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// The hub's refusals, before a stream starts.
var (
	errNotLoaded  = &gatehouse.Error{Code: gatehouse.EUNAVAILABLE, Message: "Revocation stream not ready"}
	errTooMany    = &gatehouse.Error{Code: gatehouse.EUNAVAILABLE, Message: "Too many revocation streams"}
	errBadEventID = gatehouse.Invalid([]string{"header", "Last-Event-ID"}, "Must be an event id of this stream", "value_error")
)

// subscribe registers a stream and returns what it must be sent first: the
// events after lastID when the backlog holds them all (resume), else a
// snapshot of the user entries (snapshot true: the caller sends the
// revocations first, read from the store); then a sync event. Events after
// the sync's seq go to the stream's queue from now on; a snapshot's
// revocations, read after this, may repeat some of them, which is
// harmless (a revocation is idempotent).
func (h *Hub) subscribe(lastID int64, resume bool) (s *stream, b []byte, snapshot bool, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.loaded || h.closed {
		return nil, nil, false, errNotLoaded
	}
	if len(h.subs) >= h.cfg.MaxStreams {
		return nil, nil, false, errTooMany
	}
	if resume && lastID >= h.backlogFrom && lastID <= h.seq {
		for _, f := range h.backlog {
			if f.seq > lastID {
				b = append(b, f.b...)
			}
		}
	} else {
		snapshot = true
		n := h.cfg.Now().Unix()
		for id, e := range h.users {
			if e.exp > n {
				b = append(b, userFrame(0, id, e)...)
			}
		}
	}
	b = append(b, syncFrame(h.seq)...)
	s = &stream{ch: make(chan []byte, h.cfg.Buffer), gone: make(chan struct{})}
	h.subs[s] = struct{}{}
	return s, b, snapshot, nil
}

// revocationSnapshot returns the frames of every live revocation, read from
// the store. It is read whole before anything is written, so that a slow
// client never holds a database connection.
func (h *Hub) revocationSnapshot(ctx context.Context) ([]byte, error) {
	var b []byte
	err := h.cfg.Source.EachRevocation(ctx, h.cfg.Now(), func(r gatehouse.Revocation) error {
		if h.addRevocation(r) {
			b = append(b, revocationFrame(0, r)...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("revstream: snapshot: %w", err)
	}
	return b, nil
}

func (h *Hub) unsubscribe(s *stream) {
	h.mu.Lock()
	h.dropLocked(s)
	h.mu.Unlock()
}

// writeTimeout bounds each write to a stream: a client that stops reading
// is cut off rather than holding a goroutine and its queue.
const writeTimeout = 10 * time.Second

// Serve streams events to w until the client goes, the hub closes, the
// stream falls behind or recheck fails (called every Heartbeat: a revoked
// API key or an expired token ends its stream). The caller has
// authenticated the request. An error is returned, for the caller's error
// path, only before the stream starts: 503 when the hub is not loaded or
// too many streams are open, 422 for a Last-Event-ID that is no number.
func (h *Hub) Serve(w http.ResponseWriter, r *http.Request, recheck func() error) error {
	var lastID int64
	resume := false
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id < 0 {
			return errBadEventID
		}
		lastID, resume = id, true
	}
	s, first, snapshot, err := h.subscribe(lastID, resume)
	if err != nil {
		if err == errTooMany {
			w.Header().Set("Retry-After", "5")
		}
		return err
	}
	defer h.unsubscribe(s)
	if snapshot {
		revs, err := h.revocationSnapshot(r.Context())
		if err != nil {
			h.log.WarnContext(r.Context(), "revocation stream: reading the snapshot failed", "err", err)
			return errNotLoaded
		}
		first = append(revs, first...)
	}
	// Each write gets a deadline of its own, replacing the server's
	// WriteTimeout, which would otherwise end every stream after it.
	rc := http.NewResponseController(w)
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Accel-Buffering", "no") // nginx: pass events on as they come
	w.WriteHeader(http.StatusOK)
	write := func(b []byte) bool {
		rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write(append([]byte("retry: 1000\n\n"), first...)) {
		return nil
	}
	beat := time.NewTicker(h.cfg.Heartbeat)
	defer beat.Stop()
	var batch []byte
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-s.gone:
			return nil
		case <-beat.C:
			if recheck != nil && recheck() != nil {
				return nil
			}
			if !write([]byte(": ping\n\n")) {
				return nil
			}
		case b := <-s.ch:
			batch = append(batch[:0], b...)
			for more := true; more; {
				select {
				case b := <-s.ch:
					batch = append(batch, b...)
				default:
					more = false
				}
			}
			if !write(batch) {
				return nil
			}
		}
	}
}

// The events' data.
type revocationData struct {
	JTI string `json:"jti,omitempty"`
	SID string `json:"sid,omitempty"`
	Exp int64  `json:"exp"`
}

type userData struct {
	Sub   string `json:"sub"`
	State string `json:"state"`
	Scope string `json:"scope"`
	Exp   int64  `json:"exp"`
}

func revocationFrame(seq int64, r gatehouse.Revocation) []byte {
	d := revocationData{Exp: r.ExpiresAt.Unix()}
	if r.Kind == gatehouse.RevokeToken {
		d.JTI = r.Value
	} else {
		d.SID = r.Value
	}
	return encode(seq, "revoke", d)
}

func userFrame(seq, id int64, e userEntry) []byte {
	return encode(seq, "user", userData{Sub: strconv.FormatInt(id, 10), State: e.state, Scope: e.scope, Exp: e.exp})
}

func syncFrame(seq int64) []byte {
	return encode(seq, "sync", struct {
		Seq int64 `json:"seq"`
	}{seq})
}

// encode writes one event; seq 0 (snapshot events) carries no id, so the
// client's Last-Event-ID moves only with the sync that ends the snapshot.
// JSON never holds a raw newline, so data is one line.
func encode(seq int64, event string, data any) []byte {
	d, _ := json.Marshal(data) // plain structs: cannot fail
	b := make([]byte, 0, len(d)+48)
	if seq > 0 || event == "sync" {
		b = append(b, "id: "...)
		b = strconv.AppendInt(b, seq, 10)
		b = append(b, '\n')
	}
	b = append(b, "event: "...)
	b = append(b, event...)
	b = append(b, "\ndata: "...)
	b = append(b, d...)
	return append(b, '\n', '\n')
}
