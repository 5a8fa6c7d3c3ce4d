package httpapi_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/httpapi"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/ratelimit"
	"github.com/gatehouse/gatehouse/sqlite"
	"github.com/gatehouse/gatehouse/token"
)

// gatedHasher holds every Verify until the gate opens: a stand-in for a
// flood of expensive argon2id work.
type gatedHasher struct {
	*password.Hasher
	gate    chan struct{}
	entered chan struct{}
}

func (g *gatedHasher) Verify(pw, enc string) (bool, bool, error) {
	g.entered <- struct{}{}
	<-g.gate
	return g.Hasher.Verify(pw, enc)
}

// TestLoginFloodIsShedAndNeverStarvesVerification fills the hashing pool
// (one worker, one queued) and checks that the next login is shed with 503
// and Retry-After at once, while requests that only verify a token are
// served as usual.
func TestLoginFloodIsShedAndNeverStarvesVerification(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	tokens, _ := token.NewManager(token.Config{Keys: []token.Key{{ID: "k", Secret: []byte("0123456789abcdef0123456789abcdef")}},
		Issuer: "gatehouse", Audience: "gatehouse"})
	h := &gatedHasher{Hasher: password.NewHasher(testParams), gate: make(chan struct{}), entered: make(chan struct{}, 8)}
	pool := password.NewPool(1, 1)
	defer pool.Close()
	svc, err := auth.New(auth.Config{Store: store, Tokens: tokens, Hasher: h, Pool: pool, Policy: password.DefaultPolicy()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateUser(ctx, auth.NewUser{Username: "alice", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	// A token issued before the flood (the gate is open for this one login).
	go func() { <-h.entered; h.gate <- struct{}{} }()
	pair, err := svc.Login(ctx, "alice", "correct horse battery", "")
	if err != nil {
		t.Fatal(err)
	}
	api, err := httpapi.New(httpapi.Config{Auth: svc, Store: store, Logger: slog.New(slog.DiscardHandler),
		LoginLimit: ratelimit.Limit{Rate: 1000, Period: time.Minute, Burst: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	defer srv.Close()
	login := func() (int, string) {
		res, err := srv.Client().PostForm(srv.URL+"/token", url.Values{"username": {"alice"}, "password": {"correct horse battery"}})
		if err != nil {
			t.Error(err)
			return 0, ""
		}
		res.Body.Close()
		return res.StatusCode, res.Header.Get("Retry-After")
	}

	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i := range 2 { // one runs (held at the gate), one waits in the queue
		wg.Add(1)
		go func() { defer wg.Done(); codes[i], _ = login() }()
	}
	<-h.entered // the worker is busy
	deadline := time.Now().Add(5 * time.Second)
	for pool.QueueDepth() < 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if code, retry := login(); code != 503 || retry == "" {
		t.Fatalf("login with the pool full = %d (Retry-After %q), want 503 with Retry-After", code, retry)
	}
	req := httptest.NewRequest("GET", "/users/me", nil)
	req.Header.Set("Authorization", "Bearer "+pair.AccessToken)
	w := httptest.NewRecorder()
	api.ServeHTTP(w, req)
	if w.Code != 200 || !strings.Contains(w.Body.String(), "alice") {
		t.Fatalf("/users/me during the flood = %d %s", w.Code, w.Body.String())
	}
	close(h.gate)
	wg.Wait()
	if codes[0] != 200 || codes[1] != 200 {
		t.Fatalf("queued logins = %v, want both 200 once the pool drains", codes)
	}
}
