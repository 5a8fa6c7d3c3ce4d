package guard_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/guard"
	"github.com/gatehouse/gatehouse/httperror"
	"github.com/gatehouse/gatehouse/revstream"
	"github.com/gatehouse/gatehouse/token"
)

// changeFeed is an in-memory change feed and the users behind it, as the
// revocation stream's hub reads a store.
type changeFeed struct {
	mu      sync.Mutex
	changes []gatehouse.Change
	users   map[int64]*gatehouse.User
}

func (f *changeFeed) LatestChange(context.Context) (int64, error) { return int64(len(f.changes)), nil }

func (f *changeFeed) ChangesSince(_ context.Context, after int64, limit int) ([]gatehouse.Change, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []gatehouse.Change
	for _, c := range f.changes {
		if c.Seq > after && len(out) < limit {
			out = append(out, c)
		}
	}
	return out, nil
}

func (f *changeFeed) EachRevocation(context.Context, time.Time, func(gatehouse.Revocation) error) error {
	return nil
}

func (f *changeFeed) UserByID(_ context.Context, id int64) (*gatehouse.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if u, ok := f.users[id]; ok {
		c := *u
		return &c, nil
	}
	return nil, gatehouse.Errorf(gatehouse.ENOTFOUND, "User not found")
}

func (f *changeFeed) add(c gatehouse.Change) {
	f.mu.Lock()
	c.Seq = int64(len(f.changes)) + 1
	f.changes = append(f.changes, c)
	f.mu.Unlock()
}

func (f *changeFeed) revoke(kind, value string) {
	f.add(gatehouse.Change{Revocation: &gatehouse.Revocation{Kind: kind, Value: value, ExpiresAt: time.Now().Add(time.Hour)}})
}

func (f *changeFeed) setUser(id int64, fn func(*gatehouse.User)) {
	f.mu.Lock()
	if fn == nil {
		delete(f.users, id)
	} else {
		fn(f.users[id])
	}
	f.mu.Unlock()
	f.add(gatehouse.Change{UserID: id})
}

const streamKey = "ghk_stream_key"

// fakeGatehouse is a fake Gatehouse: the key set and the revocation
// stream, served by the real hub over a change feed; restart replaces the
// hub as a Gatehouse restart would.
type fakeGatehouse struct {
	*httptest.Server
	t      testing.TB
	feed   *changeFeed
	hub    atomic.Pointer[revstream.Hub]
	jwks   []byte
	tokens *token.Manager
	down   atomic.Bool
	lastID atomic.Pointer[string] // Last-Event-ID of the latest stream request
}

func newGatehouse(t testing.TB) *fakeGatehouse {
	t.Helper()
	kid, k := mustKey(t, token.ES256)
	g := &fakeGatehouse{t: t, feed: &changeFeed{users: map[int64]*gatehouse.User{
		42: {ID: 42, Role: gatehouse.RoleAdmin}, 43: {ID: 43, Role: gatehouse.RoleUser}}},
		jwks: encodeSet(jwkOf(kid, k))}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case g.down.Load():
			http.Error(w, "down", http.StatusBadGateway)
		case r.URL.Path == "/.well-known/jwks.json":
			w.Header().Set("Cache-Control", "public, max-age=3600")
			w.Write(g.jwks)
		case r.URL.Path == "/revocations/stream":
			id := r.Header.Get("Last-Event-ID")
			g.lastID.Store(&id)
			if r.Header.Get("X-API-Key") != streamKey {
				httperror.Write(w, r, nil, &gatehouse.Error{Code: gatehouse.EFORBIDDEN, Message: "Invalid API key"})
				return
			}
			if err := g.hub.Load().Serve(w, r, nil); err != nil {
				httperror.Write(w, r, nil, err)
			}
		default:
			http.NotFound(w, r)
		}
	}))
	g.tokens = signer(t, g.URL, kid, k)
	g.restart()
	t.Cleanup(func() { g.hub.Load().Close(); g.Close() })
	return g
}

// restart starts a new hub on the same feed, as a restarted Gatehouse
// does, closing the old one's streams.
func (g *fakeGatehouse) restart() {
	g.t.Helper()
	h, err := revstream.New(revstream.Config{Source: g.feed, Lifetime: time.Hour, Poll: 5 * time.Millisecond,
		Heartbeat: 50 * time.Millisecond})
	if err != nil {
		g.t.Fatal(err)
	}
	if err := h.Load(context.Background()); err != nil {
		g.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go h.Run(ctx)
	g.t.Cleanup(cancel)
	if old := g.hub.Swap(h); old != nil {
		old.Close()
	}
}

func (g *fakeGatehouse) token(sub int64, jti, sid, scope string) string {
	g.t.Helper()
	now := time.Now()
	tok, err := g.tokens.Issue(token.Claims{Subject: fmt.Sprint(sub), ID: jti, SessionID: sid, Scope: scope,
		IssuedAt: now.Unix(), ExpiresAt: now.Add(15 * time.Minute).Unix()})
	if err != nil {
		g.t.Fatal(err)
	}
	return tok
}

// follower is a Go service guarded by guard.JWKS with the revocation
// stream.
type follower struct {
	t   testing.TB
	rv  *guard.Revocations
	v   *guard.JWKS
	now *atomic.Int64 // the follower's clock, Unix nanoseconds
}

func newFollower(t testing.TB, g *fakeGatehouse, opts guard.RevocationsOptions) *follower {
	t.Helper()
	f := &follower{t: t, now: &atomic.Int64{}}
	f.now.Store(time.Now().UnixNano())
	clock := func() time.Time { return time.Unix(0, f.now.Load()) }
	if opts.APIKey == "" {
		opts.APIKey = streamKey
	}
	opts.Now = clock
	var err error
	if f.rv, err = guard.NewRevocations(g.URL, opts); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go f.rv.Run(ctx)
	if f.v, err = guard.NewJWKS(g.URL, guard.JWKSOptions{Audience: "gatehouse", Revocations: f.rv}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *follower) advance(d time.Duration) { f.now.Add(int64(d)) }

func (f *follower) auth(tok string) (*gatehouse.Principal, error) {
	return f.v.Authenticate(context.Background(), tok)
}

// eventually waits, up to 10 s, until the token's check gives want (an
// error message, or "" for accepted).
func (f *follower) eventually(tok, want string) *gatehouse.Principal {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p, err := f.auth(tok)
		got := ""
		if err != nil {
			got = gatehouse.ErrorMessage(err)
		}
		if got == want {
			return p
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("token check: %q, want %q within 10 s", got, want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestTheFollowerRefusesWhatGatehouseRevokes(t *testing.T) {
	g := newGatehouse(t)
	f := newFollower(t, g, guard.RevocationsOptions{})
	tok := g.token(43, "jti-1", "sid-1", "read:items write:items")
	other := g.token(43, "jti-2", "sid-2", "read:items")

	if err := f.rv.WaitSynced(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.eventually(tok, "")
	g.feed.revoke(gatehouse.RevokeSession, "sid-1") // a logout
	g.hub.Load().Kick()
	f.eventually(tok, "Token has been revoked")
	f.eventually(other, "") // another session of the same user is untouched
	g.feed.revoke(gatehouse.RevokeToken, "jti-2")
	f.eventually(other, "Token has been revoked")

	// The admin demoted: an admin-scoped token keeps only what a user may hold.
	admin := g.token(42, "jti-3", "sid-3", "read:items admin")
	if p := f.eventually(admin, ""); p.Scope != "read:items admin" {
		t.Fatalf("scope before the demotion: %q", p.Scope)
	}
	g.feed.setUser(42, func(u *gatehouse.User) { u.Role = gatehouse.RoleUser })
	deadline := time.Now().Add(10 * time.Second)
	for p := f.eventually(admin, ""); p.Scope != "read:items"; p = f.eventually(admin, "") {
		if time.Now().After(deadline) {
			t.Fatalf("a demoted admin's token keeps %q", p.Scope)
		}
		time.Sleep(2 * time.Millisecond)
	}
	// Disabled, the user's tokens are refused as Gatehouse refuses them;
	// enabled again, they work again; deleted, never.
	g.feed.setUser(42, func(u *gatehouse.User) { u.Disabled = true })
	f.eventually(admin, "Inactive user")
	g.feed.setUser(42, func(u *gatehouse.User) { u.Disabled = false })
	f.eventually(admin, "")
	g.feed.setUser(42, nil)
	f.eventually(admin, "Could not validate credentials")
}

// Until its first snapshot a follower refuses every token: it cannot know
// which are revoked. Down for longer than MaxStale, it refuses them again
// (fails closed), until it has reconnected — resuming where it was.
func TestTheFollowerFailsClosedAfterMaxStaleAndResumesAfterARestart(t *testing.T) {
	g := newGatehouse(t)
	g.down.Store(true)
	f := newFollower(t, g, guard.RevocationsOptions{MaxStale: time.Minute})
	tok := g.token(43, "jti-1", "sid-1", "read:items")
	if _, err := f.auth(tok); gatehouse.ErrorCode(err) != gatehouse.EUNAVAILABLE {
		t.Fatalf("before the first snapshot: %v, want 503", err)
	}
	g.down.Store(false)
	f.eventually(tok, "")
	g.feed.revoke(gatehouse.RevokeToken, "seen-before-the-outage")
	f.eventually(g.token(43, "seen-before-the-outage", "s", "read:items"), "Token has been revoked")

	// Gatehouse goes away: tokens verify for MaxStale after its last word.
	before := f.rv.Status().Connections
	g.down.Store(true)
	g.hub.Load().Close()
	for f.rv.Status().Up {
		time.Sleep(time.Millisecond)
	}
	f.advance(59 * time.Second)
	f.eventually(tok, "")
	f.advance(2 * time.Second)
	f.eventually(tok, "Revocation stream unavailable")

	// It comes back, restarted, with a logout made meanwhile.
	g.feed.revoke(gatehouse.RevokeSession, "sid-1")
	g.restart()
	g.down.Store(false)
	f.eventually(tok, "Token has been revoked")
	if id := *g.lastID.Load(); id == "" || id == "0" {
		t.Fatalf("the follower reconnected with Last-Event-ID %q, want where it was", id)
	}
	if n := f.rv.Status().Connections; n <= before {
		t.Fatalf("connections %d, as before the outage", n)
	}
}

func TestAFollowerMayFailOpen(t *testing.T) {
	g := newGatehouse(t)
	f := newFollower(t, g, guard.RevocationsOptions{MaxStale: -1})
	tok := g.token(43, "jti-1", "sid-1", "read:items")
	f.eventually(tok, "")
	g.down.Store(true)
	g.hub.Load().Close()
	for f.rv.Status().Up {
		time.Sleep(time.Millisecond)
	}
	f.advance(24 * time.Hour)
	f.eventually(tok, "")
}

func TestAFollowerWithAWrongKeyRefusesEverything(t *testing.T) {
	g := newGatehouse(t)
	f := newFollower(t, g, guard.RevocationsOptions{APIKey: "ghk_wrong"})
	tok := g.token(43, "jti-1", "sid-1", "read:items")
	for f.rv.Status().Connections < 1 {
		time.Sleep(time.Millisecond)
	}
	if _, err := f.auth(tok); gatehouse.ErrorCode(err) != gatehouse.EUNAVAILABLE {
		t.Fatalf("with a refused stream: %v, want 503", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := f.rv.WaitSynced(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitSynced: %v", err)
	}
}

// What a stream sends that the follower cannot use is skipped or ends the
// connection, never a crash or unbounded memory; a quiet connection is
// replaced.
func TestTheFollowerSurvivesABadStream(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := conns.Add(1)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		switch n {
		case 1: // a line longer than any event
			w.Write([]byte("event: revoke\ndata: " + strings.Repeat("x", 1<<20) + "\n\n"))
		case 2: // garbage, unknown events, then a real one and a sync; then silence
			w.Write([]byte("nonsense\nevent: future\ndata: {}\n\nevent: revoke\ndata: not json\n\n" +
				"event: revoke\r\ndata: {\"jti\":\"j\",\"exp\":99999999999}\r\n\r\nid: 7\nevent: sync\ndata: {\"seq\":7}\n\n"))
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		default:
			if r.Header.Get("Last-Event-ID") != "7" {
				t.Errorf("reconnected with Last-Event-ID %q, want 7", r.Header.Get("Last-Event-ID"))
			}
			w.Write([]byte("id: 8\nevent: sync\ndata: {\"seq\":8}\n\n"))
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}
	}))
	defer srv.Close()
	rv, err := guard.NewRevocations(srv.URL, guard.RevocationsOptions{APIKey: "k", Silence: 100 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go rv.Run(ctx)
	if err := rv.WaitSynced(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := rv.Check("j", "", "1", "read:items"); err == nil {
		t.Fatal("the revocation after the garbage was lost")
	}
	for conns.Load() < 3 {
		time.Sleep(time.Millisecond)
	}
}

func TestNewRevocationsChecksItsSettings(t *testing.T) {
	for name, tt := range map[string]struct {
		issuer string
		opts   guard.RevocationsOptions
	}{
		"no key":            {"https://auth.example.com", guard.RevocationsOptions{}},
		"bad issuer":        {"auth.example.com", guard.RevocationsOptions{APIKey: "k"}},
		"credentials in it": {"https://u:p@auth.example.com", guard.RevocationsOptions{APIKey: "k"}},
		"another host":      {"https://auth.example.com", guard.RevocationsOptions{APIKey: "k", URL: "https://evil.example.com/revocations/stream"}},
	} {
		if _, err := guard.NewRevocations(tt.issuer, tt.opts); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// BenchmarkJWKSAuthenticateWithRevocations is BenchmarkJWKSAuthenticate
// with the revocation stream consulted (ES256, a token seen before).
func BenchmarkJWKSAuthenticateWithRevocations(b *testing.B) {
	g := newGatehouse(b)
	f := newFollower(b, g, guard.RevocationsOptions{})
	for i := range 1000 { // a thousand live revocations and user entries
		g.feed.revoke(gatehouse.RevokeSession, fmt.Sprint("other-", i))
	}
	tok := g.token(43, "jti-1", "sid-1", "read:items")
	f.eventually(tok, "")
	g.feed.revoke(gatehouse.RevokeToken, "marker")
	f.eventually(g.token(43, "marker", "s", "read:items"), "Token has been revoked")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.v.Authenticate(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// A stream that redirects to another host never gets the API key: Go's
// client forwards X-API-Key on a redirect (it drops only Authorization
// and cookies), so the follower follows redirects on the issuer's own
// scheme and host only.
func TestTheFollowerNeverSendsItsKeyToAnotherHost(t *testing.T) {
	var leaked, reached atomic.Int64
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		if r.Header.Get("X-API-Key") != "" {
			leaked.Add(1)
		}
		http.Error(w, "no", http.StatusNotFound)
	}))
	t.Cleanup(elsewhere.Close)
	var asked atomic.Int64
	issuer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		// elsewhere listens on 127.0.0.1 too: "localhost" makes it
		// another host by name, as an attacker's would be.
		http.Redirect(w, r, strings.Replace(elsewhere.URL, "127.0.0.1", "localhost", 1)+"/steal", http.StatusFound)
	}))
	t.Cleanup(issuer.Close)
	rv, err := guard.NewRevocations(issuer.URL, guard.RevocationsOptions{APIKey: "ghk_secret"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); rv.Run(ctx) }()
	for asked.Load() < 2 { // it tried, got the redirect, and tried again
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	if leaked.Load() != 0 || reached.Load() != 0 {
		t.Fatalf("the other host was reached %d times, %d with the key", reached.Load(), leaked.Load())
	}
}
