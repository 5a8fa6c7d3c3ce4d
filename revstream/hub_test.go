package revstream_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/httperror"
	"github.com/gatehouse/gatehouse/revstream"
)

// feed is an in-memory change feed and the state behind it, as a store
// keeps them.
type feed struct {
	mu      sync.Mutex
	changes []gatehouse.Change
	revs    []gatehouse.Revocation
	users   map[int64]*gatehouse.User
	fail    atomic.Bool
}

func newFeed() *feed {
	return &feed{users: map[int64]*gatehouse.User{
		1: {ID: 1, Role: gatehouse.RoleAdmin},
		2: {ID: 2, Role: gatehouse.RoleUser},
	}}
}

var errDown = errors.New("store down")

func (f *feed) LatestChange(context.Context) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.changes) == 0 {
		return 0, nil
	}
	return f.changes[len(f.changes)-1].Seq, nil
}

func (f *feed) ChangesSince(_ context.Context, after int64, limit int) ([]gatehouse.Change, error) {
	if f.fail.Load() {
		return nil, errDown
	}
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

func (f *feed) EachRevocation(_ context.Context, now time.Time, fn func(gatehouse.Revocation) error) error {
	f.mu.Lock()
	revs := slices.Clone(f.revs)
	f.mu.Unlock()
	for _, r := range revs {
		if r.ExpiresAt.After(now) {
			if err := fn(r); err != nil {
				return err
			}
		}
	}
	return nil
}

func (f *feed) UserByID(_ context.Context, id int64) (*gatehouse.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.users[id]
	if !ok {
		return nil, gatehouse.Errorf(gatehouse.ENOTFOUND, "User not found")
	}
	c := *u
	return &c, nil
}

// append records a change with the next sequence number (gaps included,
// as PostgreSQL's sequences have) and returns it.
func (f *feed) append(c gatehouse.Change) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	c.Seq = int64(len(f.changes))*2 + 1
	f.changes = append(f.changes, c)
	if c.Revocation != nil {
		f.revs = append(f.revs, *c.Revocation)
	}
	return c.Seq
}

func (f *feed) revoke(kind, value string) int64 {
	r := gatehouse.Revocation{Kind: kind, Value: value, ExpiresAt: time.Now().Add(time.Hour)}
	return f.append(gatehouse.Change{Revocation: &r})
}

func (f *feed) changeUser(id int64, fn func(*gatehouse.User)) int64 {
	f.mu.Lock()
	if u, ok := f.users[id]; ok {
		if fn == nil {
			delete(f.users, id)
		} else {
			fn(u)
		}
	}
	f.mu.Unlock()
	return f.append(gatehouse.Change{UserID: id})
}

// fixture is a hub over a feed, served at srv.
type fixture struct {
	t    *testing.T
	feed *feed
	hub  *revstream.Hub
	srv  *httptest.Server
	ok   atomic.Bool // what the recheck answers
}

func newFixture(t *testing.T, cfg revstream.Config) *fixture {
	t.Helper()
	f := &fixture{t: t, feed: newFeed()}
	f.ok.Store(true)
	cfg.Source = f.feed
	if cfg.Lifetime == 0 {
		cfg.Lifetime = 16 * time.Minute
	}
	cfg.Poll = time.Hour // the tests poll by hand
	h, err := revstream.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.hub = h
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		recheck := func() error {
			if !f.ok.Load() {
				return errors.New("credential revoked")
			}
			return nil
		}
		if err := h.Serve(w, r, recheck); err != nil {
			httperror.Write(w, r, nil, err)
		}
	}))
	t.Cleanup(func() { h.Close(); f.srv.Close() })
	return f
}

func (f *fixture) load() {
	f.t.Helper()
	if err := f.hub.Load(context.Background()); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) poll() {
	f.t.Helper()
	if err := f.hub.Poll(context.Background()); err != nil {
		f.t.Fatal(err)
	}
}

// event is one event as a client reads it.
type event struct {
	id, name string
	data     map[string]any
}

// client reads a stream.
type client struct {
	t   *testing.T
	res *http.Response
	r   *bufio.Reader
}

func (f *fixture) connect(lastID string) *client {
	f.t.Helper()
	c, res := f.dial(lastID)
	if res.StatusCode != 200 {
		f.t.Fatalf("stream: %d", res.StatusCode)
	}
	return c
}

func (f *fixture) dial(lastID string) (*client, *http.Response) {
	f.t.Helper()
	req, _ := http.NewRequest("GET", f.srv.URL, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	res, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	c := &client{t: f.t, res: res, r: bufio.NewReader(res.Body)}
	f.t.Cleanup(func() { res.Body.Close() })
	return c, res
}

// next returns the next event; comments are skipped. ok is false when the
// stream ended.
func (c *client) next() (ev event, ok bool) {
	c.t.Helper()
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return ev, false
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if ev.name != "" {
				return ev, true
			}
		case strings.HasPrefix(line, ":"), strings.HasPrefix(line, "retry:"):
		case strings.HasPrefix(line, "id: "):
			ev.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev.data); err != nil {
				c.t.Fatalf("data %q: %v", line, err)
			}
		default:
			c.t.Fatalf("unexpected line %q", line)
		}
	}
}

// untilSync returns the events before the next sync, and the sync's id.
func (c *client) untilSync() ([]event, string) {
	c.t.Helper()
	var evs []event
	for {
		ev, ok := c.next()
		if !ok {
			c.t.Fatal("stream ended before sync")
		}
		if ev.name == "sync" {
			return evs, ev.id
		}
		evs = append(evs, ev)
	}
}

func (c *client) mustNext() event {
	c.t.Helper()
	ev, ok := c.next()
	if !ok {
		c.t.Fatal("stream ended")
	}
	return ev
}

// names summarises events as "revoke jti=a", "user 2 disabled" …
func names(evs []event) []string {
	var out []string
	for _, e := range evs {
		switch e.name {
		case "revoke":
			for _, k := range []string{"jti", "sid"} {
				if v, ok := e.data[k]; ok {
					out = append(out, "revoke "+k+"="+v.(string))
				}
			}
		case "user":
			out = append(out, "user "+e.data["sub"].(string)+" "+e.data["state"].(string)+" ["+e.data["scope"].(string)+"]")
		default:
			out = append(out, e.name)
		}
	}
	return out
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		m[x]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}

func TestAStreamStartsWithASnapshotThenCarriesEveryChange(t *testing.T) {
	f := newFixture(t, revstream.Config{})
	// Before the hub starts: a revocation, and a user disabled.
	f.feed.revoke(gatehouse.RevokeSession, "old-sid")
	seq := f.feed.changeUser(2, func(u *gatehouse.User) { u.Disabled = true })
	f.load()
	c := f.connect("")
	snap, id := c.untilSync()
	if want := []string{"revoke sid=old-sid", "user 2 disabled []"}; !sameSet(names(snap), want) {
		t.Fatalf("snapshot %v, want %v", names(snap), want)
	}
	if id != strconv.FormatInt(seq, 10) {
		t.Fatalf("sync id %s, want the feed's position %d", id, seq)
	}
	for _, e := range snap {
		if e.id != "" {
			t.Fatalf("a snapshot event carries id %s: a client cut off mid-snapshot would resume past what it missed", e.id)
		}
		if exp, _ := e.data["exp"].(float64); exp <= float64(time.Now().Unix()) {
			t.Fatalf("snapshot event %v: exp not in the future", e.data)
		}
	}

	// Then every change, each with its feed position as id.
	f.feed.append(gatehouse.Change{APIKeyID: 9}) // nothing a resource server needs
	s1 := f.feed.revoke(gatehouse.RevokeToken, "jti-1")
	s2 := f.feed.changeUser(1, func(u *gatehouse.User) { u.Role = gatehouse.RoleModerator }) // demoted
	s3 := f.feed.changeUser(2, nil)                                                          // deleted
	s4 := f.feed.changeUser(2, nil)
	f.poll()
	want := []struct {
		seq  int64
		what string
	}{{s1, "revoke jti=jti-1"}, {s2, "user 1 active [read:items write:items]"}, {s3, "user 2 deleted []"}, {s4, "user 2 deleted []"}}
	for _, w := range want {
		ev := c.mustNext()
		if got := names([]event{ev}); got[0] != w.what || ev.id != strconv.FormatInt(w.seq, 10) {
			t.Fatalf("event %s %v, want %d %s", ev.id, got, w.seq, w.what)
		}
	}
	// An expired revocation is not worth sending.
	f.feed.append(gatehouse.Change{Revocation: &gatehouse.Revocation{Kind: gatehouse.RevokeToken, Value: "gone",
		ExpiresAt: time.Now().Add(-time.Second)}})
	s5 := f.feed.revoke(gatehouse.RevokeToken, "jti-2")
	f.poll()
	if ev := c.mustNext(); names([]event{ev})[0] != "revoke jti=jti-2" || ev.id != strconv.FormatInt(s5, 10) {
		t.Fatalf("after an expired revocation: %v", ev)
	}
}

func TestAClientResumesFromLastEventIDOrGetsASnapshot(t *testing.T) {
	f := newFixture(t, revstream.Config{Backlog: 4})
	f.feed.revoke(gatehouse.RevokeSession, "before-start")
	f.load()
	c := f.connect("")
	_, id := c.untilSync()
	c.res.Body.Close()

	f.feed.revoke(gatehouse.RevokeToken, "missed-1")
	f.feed.changeUser(2, func(u *gatehouse.User) { u.Disabled = true })
	f.poll()
	c = f.connect(id)
	missed, id2 := c.untilSync()
	if want := []string{"revoke jti=missed-1", "user 2 disabled []"}; strings.Join(names(missed), ",") != strings.Join(want, ",") {
		t.Fatalf("resumed with %v, want exactly what was missed, in order: %v", names(missed), want)
	}
	if id2 == id {
		t.Fatal("the sync after a resume does not move the client's position")
	}
	// Up to date: nothing to send but the sync.
	c.res.Body.Close()
	if evs, _ := f.connect(id2).untilSync(); len(evs) != 0 {
		t.Fatalf("resumed at the head: %v", names(evs))
	}

	// More than the backlog holds were missed: a snapshot.
	for i := range 8 {
		f.feed.revoke(gatehouse.RevokeToken, "burst-"+strconv.Itoa(i))
	}
	f.poll()
	snap, _ := f.connect(id2).untilSync()
	if len(snap) != 1+1+8+1 || snap[0].id != "" {
		t.Fatalf("a resume from before the backlog got %v, want a snapshot of all 11 live entries", names(snap))
	}
	// So does an id this hub has not reached (another database, or an
	// instance ahead of this one).
	if snap, _ := f.connect("999999").untilSync(); len(snap) != 11 {
		t.Fatalf("a resume from the future got %v", names(snap))
	}
}

// A restarted hub rebuilds its backlog from the change feed, so clients
// resume across a Gatehouse restart without a snapshot.
func TestAClientResumesAcrossARestart(t *testing.T) {
	f := newFixture(t, revstream.Config{})
	f.load()
	_, id := f.connect("").untilSync()
	f.feed.revoke(gatehouse.RevokeToken, "while-down")

	h2, err := revstream.New(revstream.Config{Source: f.feed, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := h2.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h2.Serve(w, r, nil) }))
	defer srv.Close()
	defer h2.Close()
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("Last-Event-ID", id)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	evs, _ := (&client{t: t, res: res, r: bufio.NewReader(res.Body)}).untilSync()
	if got := names(evs); len(got) != 1 || got[0] != "revoke jti=while-down" || evs[0].id == "" {
		t.Fatalf("resumed after a restart with %v, want the one event missed", got)
	}
}

func TestStreamsAreBounded(t *testing.T) {
	f := newFixture(t, revstream.Config{MaxStreams: 2, Buffer: 2})
	c, res := f.dial("")
	if res.StatusCode != 503 {
		t.Fatalf("before Load: %d, want 503", res.StatusCode)
	}
	_ = c
	f.load()
	a, b := f.connect(""), f.connect("")
	a.untilSync()
	b.untilSync()
	_, res = f.dial("")
	if res.StatusCode != 503 || res.Header.Get("Retry-After") == "" {
		t.Fatalf("a third stream: %d (Retry-After %q), want 503 with Retry-After", res.StatusCode, res.Header.Get("Retry-After"))
	}
	if _, res = f.dial("x"); res.StatusCode != 422 {
		t.Fatalf("Last-Event-ID x: %d, want 422", res.StatusCode)
	}

	// b stops reading: once more events are waiting than its buffer holds
	// (and than the connection's buffers absorb), it is dropped; a keeps up.
	big := strings.Repeat("x", 60<<10)
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; f.hub.Streams() == 2; i++ {
		if time.Now().After(deadline) {
			t.Fatal("a stream that does not read is never dropped")
		}
		f.feed.revoke(gatehouse.RevokeToken, big+strconv.Itoa(i))
		f.poll()
		if ev := a.mustNext(); ev.name != "revoke" {
			t.Fatalf("a got %v", ev)
		}
	}
	// Its client resumes where it was, and a place is free again.
	f.connect("").untilSync()
}

func TestAStreamEndsWhenItsCredentialDoesOrTheHubCloses(t *testing.T) {
	f := newFixture(t, revstream.Config{Heartbeat: 20 * time.Millisecond})
	f.load()
	c := f.connect("")
	c.untilSync()
	f.ok.Store(false)
	done := make(chan bool)
	go func() {
		for {
			if _, ok := c.next(); !ok {
				done <- true
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream outlives its credential")
	}

	f.ok.Store(true)
	c = f.connect("")
	c.untilSync()
	f.hub.Close()
	if _, ok := c.next(); ok {
		t.Fatal("the stream outlives the hub")
	}
	if _, res := f.dial(""); res.StatusCode != 503 {
		t.Fatalf("a stream after Close: %d", res.StatusCode)
	}
}

// A failing store stops the news, not the streams; the next poll catches up.
func TestAFailedReadLosesNothing(t *testing.T) {
	f := newFixture(t, revstream.Config{})
	f.load()
	c := f.connect("")
	c.untilSync()
	f.feed.fail.Store(true)
	f.feed.revoke(gatehouse.RevokeToken, "during-outage")
	if err := f.hub.Poll(context.Background()); !errors.Is(err, errDown) {
		t.Fatalf("poll: %v", err)
	}
	f.feed.fail.Store(false)
	f.poll()
	if ev := c.mustNext(); names([]event{ev})[0] != "revoke jti=during-outage" {
		t.Fatalf("after the outage: %v", ev)
	}
}

// A stream outlives the server's read and write timeouts, which are there
// for requests that are slow to arrive (contract §2), not for answers that
// never end.
func TestAStreamOutlivesTheServersTimeouts(t *testing.T) {
	f := newFixture(t, revstream.Config{Heartbeat: 20 * time.Millisecond})
	f.load()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { f.hub.Serve(w, r, nil) }))
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = 100*time.Millisecond, 100*time.Millisecond
	srv.Start()
	defer srv.Close()
	res, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	c := &client{t: t, res: res, r: bufio.NewReader(res.Body)}
	c.untilSync()
	time.Sleep(500 * time.Millisecond) // five times either timeout
	f.feed.revoke(gatehouse.RevokeToken, "late")
	f.poll()
	if ev := c.mustNext(); names([]event{ev})[0] != "revoke jti=late" {
		t.Fatalf("after the timeouts: %v", ev)
	}
}
