package guard

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse"
)

// Revocations follows a Gatehouse server's revocation stream
// (/revocations/stream, Server-Sent Events) and keeps what it says in
// memory: revoked tokens and login sessions, and users disabled, deleted
// or demoted. Given to JWKS (JWKSOptions.Revocations), it makes a service
// that verifies tokens locally refuse a logged-out token within
// milliseconds of the logout, as Gatehouse itself does:
//
//	rv, err := guard.NewRevocations("https://auth.example.com", guard.RevocationsOptions{APIKey: key})
//	go rv.Run(ctx)
//	v, err := guard.NewJWKS("https://auth.example.com", guard.JWKSOptions{Audience: "gatehouse", Revocations: rv})
//
// The key is an admin's API key with the read:revocations scope (create it
// with `gatehouse apikey create --user ADMIN --name NAME --scopes
// read:revocations`).
//
// It reconnects by itself — after a network failure or a Gatehouse
// restart, to whichever instance answers — resuming from the last event
// it received (Last-Event-ID), or taking a new snapshot when Gatehouse no
// longer holds that far back.
//
// When the stream is down it fails closed, after a grace: tokens keep
// verifying for MaxStale (60 s by default) after the last word from
// Gatehouse — long enough to ride out a restart — and are then refused
// with 503 until the stream is back, since a logout could otherwise go
// unnoticed until the token expires. Until the first snapshot has arrived
// every token is refused the same way (WaitSynced waits for it). A
// negative MaxStale fails open instead: tokens keep verifying, unchecked,
// while the stream is down.
type Revocations struct {
	url  string
	opts RevocationsOptions
	hc   *http.Client
	log  *slog.Logger

	mu       sync.RWMutex
	tokens   map[string]int64 // jti → when it may be forgotten (Unix seconds)
	sessions map[string]int64 // sid → likewise
	users    map[string]userState
	purged   time.Time

	synced   chan struct{} // closed at the first sync
	syncOnce sync.Once
	up       atomic.Bool  // connected, and synced on this connection
	lastSeen atomic.Int64 // Unix nanoseconds of the last line read on a synced connection
	lastID   string       // the last event id received (Run's goroutine only)
	connects atomic.Int64
}

type userState struct {
	state, scope string
	exp          int64
}

// RevocationsOptions configures Revocations.
type RevocationsOptions struct {
	// APIKey authenticates the stream (X-API-Key): an admin's key with the
	// read:revocations scope. Required.
	APIKey string
	// URL is the stream's address; default: the issuer +
	// "/revocations/stream". It must be on the issuer's host.
	URL string
	// Client opens the stream; default: one with a 10-second limit on
	// connecting and on the response headers, and none on the body, which
	// never ends. A redirect is followed only to the same scheme and host.
	Client *http.Client
	// MaxStale is how long after the last word from Gatehouse tokens are
	// still accepted while the stream is down; default 60 s. Negative:
	// never refuse for a stream that is down (fail open).
	MaxStale time.Duration
	// Silence is how long a connection may stay quiet before it is taken
	// for dead and replaced (Gatehouse sends a heartbeat every 15 s);
	// default 45 s.
	Silence time.Duration
	Now     func() time.Time
	Logger  *slog.Logger
}

// Bounds of what the stream may hand us.
const (
	maxStreamLine  = 64 << 10
	maxStreamValue = 256 // bytes of a jti, sid or sub
	maxBackoff     = 5 * time.Second
)

var (
	errStreamDown = &gatehouse.Error{Code: gatehouse.EUNAVAILABLE, Message: "Revocation stream unavailable"}
	errInactive   = &gatehouse.Error{Code: gatehouse.EINACTIVE, Message: "Inactive user"}
)

// NewRevocations returns a follower of the revocation stream of the
// Gatehouse whose issuer (GATEHOUSE_PUBLIC_URL) is issuer. Nothing is
// fetched until Run.
func NewRevocations(issuer string, opts RevocationsOptions) (*Revocations, error) {
	if opts.APIKey == "" {
		return nil, errors.New("guard: RevocationsOptions.APIKey is required")
	}
	su, err := issuerEndpoint(issuer, "/revocations/stream", opts.URL, "revocation stream URL")
	if err != nil {
		return nil, err
	}
	if opts.MaxStale == 0 {
		opts.MaxStale = 60 * time.Second
	}
	if opts.Silence <= 0 {
		opts.Silence = 45 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &Revocations{url: su.String(), opts: opts, log: opts.Logger, tokens: map[string]int64{}, sessions: map[string]int64{},
		users: map[string]userState{}, synced: make(chan struct{})}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	var c http.Client
	if opts.Client != nil {
		c = *opts.Client
	} else {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.ResponseHeaderTimeout = 10 * time.Second
		c.Transport = t
	}
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 3 || req.URL.Host != via[0].URL.Host || req.URL.Scheme != via[0].URL.Scheme {
			return http.ErrUseLastResponse
		}
		return nil
	}
	r.hc = &c
	return r, nil
}

// Run follows the stream until ctx ends, reconnecting after every failure
// with a backoff (100 ms doubling to 5 s, or the server's Retry-After).
func (r *Revocations) Run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		synced, wait, err := r.follow(ctx)
		r.up.Store(false)
		if ctx.Err() != nil {
			return
		}
		if synced {
			backoff = 100 * time.Millisecond
		}
		if wait == 0 {
			wait = backoff
			backoff = min(backoff*2, maxBackoff)
		}
		r.log.WarnContext(ctx, "guard: revocation stream interrupted; reconnecting", "url", r.url, "err", err, "in", wait)
		// ±20% so that many services do not reconnect in step.
		wait = time.Duration(float64(wait) * (0.8 + 0.4*rand.Float64()))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// WaitSynced waits until the first snapshot has been received (tokens are
// refused until then), or ctx ends.
func (r *Revocations) WaitSynced(ctx context.Context) error {
	select {
	case <-r.synced:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// RevocationsStatus describes the stream, for health checks and metrics.
type RevocationsStatus struct {
	Up          bool      // connected and caught up
	Synced      bool      // a snapshot has been received (now or before)
	LastSeen    time.Time // the last word from Gatehouse
	Connections int64     // connections opened so far
}

// Status reports on the stream.
func (r *Revocations) Status() RevocationsStatus {
	s := RevocationsStatus{Up: r.up.Load(), Connections: r.connects.Load()}
	select {
	case <-r.synced:
		s.Synced = true
	default:
	}
	if n := r.lastSeen.Load(); n != 0 {
		s.LastSeen = time.Unix(0, n)
	}
	return s
}

// follow opens the stream and applies its events until it ends. synced
// reports whether it got as far as a sync; wait is the server's
// Retry-After, when it sent one.
func (r *Revocations) follow(ctx context.Context) (synced bool, wait time.Duration, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return false, 0, err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("X-API-Key", r.opts.APIKey)
	if r.lastID != "" {
		req.Header.Set("Last-Event-ID", r.lastID)
	}
	r.connects.Add(1)
	res, err := r.hc.Do(req)
	if err != nil {
		return false, 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil && s > 0 {
			wait = min(time.Duration(s)*time.Second, 30*time.Second)
		}
		if res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden {
			wait = max(wait, maxBackoff) // a wrong key: no point in hurrying
		}
		return false, wait, fmt.Errorf("guard: revocation stream answered %d", res.StatusCode)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		return false, 0, fmt.Errorf("guard: revocation stream sent %q", ct)
	}
	// A connection that goes quiet for longer than Silence is dead.
	watchdog := time.AfterFunc(r.opts.Silence, cancel)
	defer watchdog.Stop()
	br := bufio.NewReaderSize(res.Body, 4096)
	var ev streamEvent
	for {
		line, err := readLine(br)
		if err != nil {
			return synced, 0, err
		}
		watchdog.Reset(r.opts.Silence)
		if synced {
			r.lastSeen.Store(r.opts.Now().UnixNano())
		}
		if len(line) > 0 {
			ev.field(line)
			continue
		}
		if ev.name == "" && ev.data == nil {
			ev = streamEvent{}
			continue
		}
		if ev.id != "" {
			r.lastID = ev.id
		}
		if r.apply(&ev) {
			synced = true
			r.lastSeen.Store(r.opts.Now().UnixNano())
			r.up.Store(true)
			r.syncOnce.Do(func() { close(r.synced) })
		}
		ev = streamEvent{}
	}
}

// readLine returns the next line without its end (LF, CRLF or CR are all
// line ends in SSE; Gatehouse sends LF), refusing one longer than
// maxStreamLine.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > maxStreamLine {
			return nil, errors.New("guard: revocation stream line too long")
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		return bytes.TrimRight(line, "\r\n"), nil
	}
}

// streamEvent is an event being read (the WHATWG SSE fields).
type streamEvent struct {
	id, name string
	data     []byte
}

func (e *streamEvent) field(line []byte) {
	if line[0] == ':' {
		return // a comment: the heartbeat
	}
	name, value, _ := bytes.Cut(line, []byte(":"))
	value = bytes.TrimPrefix(value, []byte(" "))
	switch string(name) {
	case "id":
		e.id = string(value)
	case "event":
		e.name = string(value)
	case "data":
		if e.data != nil {
			e.data = append(e.data, '\n')
		}
		e.data = append(e.data, value...)
	}
}

// apply records an event and reports whether it was a sync. Events it
// does not know, or cannot read, are skipped: a newer Gatehouse may send
// more.
func (r *Revocations) apply(ev *streamEvent) bool {
	now := r.opts.Now().Unix()
	switch ev.name {
	case "sync":
		return true
	case "revoke":
		var d struct {
			JTI string `json:"jti"`
			SID string `json:"sid"`
			Exp int64  `json:"exp"`
		}
		if json.Unmarshal(ev.data, &d) != nil || d.Exp <= now || len(d.JTI) > maxStreamValue || len(d.SID) > maxStreamValue {
			return false
		}
		r.mu.Lock()
		if d.JTI != "" && d.Exp > r.tokens[d.JTI] {
			r.tokens[d.JTI] = d.Exp
		}
		if d.SID != "" && d.Exp > r.sessions[d.SID] {
			r.sessions[d.SID] = d.Exp
		}
		r.purgeLocked(now)
		r.mu.Unlock()
	case "user":
		var d struct {
			Sub   string `json:"sub"`
			State string `json:"state"`
			Scope string `json:"scope"`
			Exp   int64  `json:"exp"`
		}
		if json.Unmarshal(ev.data, &d) != nil || d.Sub == "" || len(d.Sub) > maxStreamValue || len(d.Scope) > maxStreamLine {
			return false
		}
		r.mu.Lock()
		if d.Exp > now {
			r.users[d.Sub] = userState{state: d.State, scope: d.Scope, exp: d.Exp}
		} else {
			delete(r.users, d.Sub)
		}
		r.purgeLocked(now)
		r.mu.Unlock()
	}
	return false
}

// purgeLocked forgets expired entries, at most once a minute.
func (r *Revocations) purgeLocked(now int64) {
	if now-r.purged.Unix() < 60 {
		return
	}
	r.purged = time.Unix(now, 0)
	for _, m := range []map[string]int64{r.tokens, r.sessions} {
		for k, exp := range m {
			if exp <= now {
				delete(m, k)
			}
		}
	}
	for k, u := range r.users {
		if u.exp <= now {
			delete(r.users, k)
		}
	}
}

// Check applies what the stream said to a token that verified: its jti,
// sid, sub (user id) and scope. It returns the scopes the token keeps (cut
// to what a demoted user may still hold) or why it is refused: 401 for a
// revoked token or a deleted user, 400 "Inactive user" for a disabled one
// (as Gatehouse answers), 503 when the stream has been down longer than
// MaxStale.
func (r *Revocations) Check(jti, sid, sub, scope string) (string, error) {
	now := r.opts.Now()
	if r.opts.MaxStale >= 0 && !r.up.Load() {
		seen := r.lastSeen.Load()
		if seen == 0 || now.Sub(time.Unix(0, seen)) > r.opts.MaxStale {
			return "", errStreamDown
		}
	}
	n := now.Unix()
	r.mu.RLock()
	t, revokedT := r.tokens[jti]
	s, revokedS := r.sessions[sid]
	u, known := r.users[sub]
	r.mu.RUnlock()
	if revokedT && t > n || revokedS && s > n && sid != "" {
		return "", errJWKSRevoked
	}
	if !known || u.exp <= n {
		return scope, nil
	}
	switch u.state {
	case "active":
		return intersectScopes(scope, u.scope), nil
	case "disabled":
		return "", errInactive
	}
	return "", errJWKSBadToken // deleted, or a state this version does not know
}

// intersectScopes returns the scopes of have that allowed holds, in have's
// order.
func intersectScopes(have, allowed string) string {
	var out []string
	for _, s := range strings.Fields(have) {
		if gatehouse.HasScope(allowed, s) {
			out = append(out, s)
		}
	}
	return strings.Join(out, " ")
}
