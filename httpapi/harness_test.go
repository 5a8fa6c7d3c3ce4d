package httpapi_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/audit"
	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/httpapi"
	"github.com/gatehouse/gatehouse/httpsec"
	"github.com/gatehouse/gatehouse/internal/fakeclock"
	"github.com/gatehouse/gatehouse/internal/testservice"
	"github.com/gatehouse/gatehouse/metrics"
	"github.com/gatehouse/gatehouse/passkey"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/ratelimit"
	"github.com/gatehouse/gatehouse/revstream"
	"github.com/gatehouse/gatehouse/sqlite"
	"github.com/gatehouse/gatehouse/token"
	"github.com/gatehouse/gatehouse/totp"
)

// syncBuffer collects log output from concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// env is a running server on a real SQLite file, with a fake clock.
type env struct {
	t      *testing.T
	opts   envOptions
	srv    *httptest.Server
	api    *httpapi.Server
	svc    *auth.Service
	store  *sqlite.DB
	met    *metrics.Metrics // set when opts.metrics
	rec    *audit.Recorder  // set when opts.recorder
	clock  *fakeclock.Clock
	logs   *syncBuffer
	path   string
	secret []byte
}

// envOptions choose how much of `gatehouse serve`'s wiring a test server
// has; the zero value is the plain server.
type envOptions struct {
	security   httpsec.Config // its Proxies are set from proxies
	proxies    []string       // trusted proxy CIDRs
	loginLimit ratelimit.Limit
	// refreshLimit is the per-client limit on refreshes; zero: the
	// server's default.
	refreshLimit ratelimit.Limit
	ready        func(context.Context) error
	metrics      bool               // Prometheus metrics, as serve has
	recorder     bool               // audit events recorded into the database, as serve does
	auditor      gatehouse.Auditor  // or recorded here
	stream       *revstream.Config  // the revocation stream, on the server's store (stream_test.go)
	redirects    *httpsec.Redirects // the public URL and redirect targets of the pages
	passkeys     *passkey.RP        // passkeys' relying party; nil: unavailable
	// oauth: an RS256 key beside the HS256 one (ID tokens), and the
	// server listening at its public URL, which is also the issuer.
	oauth *oauthKey
}

// testParams keep argon2id cheap in tests.
var testParams = testservice.Params

func newEnv(t *testing.T) *env { return newEnvWith(t, envOptions{}) }

func newEnvWith(t *testing.T, o envOptions) *env {
	t.Helper()
	e := &env{t: t, opts: o, clock: fakeclock.New(time.Now().UTC().Truncate(time.Second)), logs: &syncBuffer{},
		path: filepath.Join(t.TempDir(), "gatehouse.db"), secret: []byte("0123456789abcdef0123456789abcdef-test")}
	e.start()
	return e
}

// start (re)opens the store and starts a server on it, as a restart would.
func (e *env) start() {
	t, o := e.t, e.opts
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, e.path, sqlite.WithNow(e.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	keys, issuer := []token.Key{{ID: "k1", Secret: e.secret}}, "gatehouse"
	var ln net.Listener
	if o.oauth != nil {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		issuer = "http://" + ln.Addr().String()
		pub, _ := url.Parse(issuer)
		if o.redirects, err = httpsec.NewRedirects(pub, nil); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, token.Key{ID: o.oauth.kid, Signer: o.oauth.key})
	}
	tokens, err := token.NewManager(token.Config{Keys: keys,
		Issuer: issuer, Audience: "gatehouse", Leeway: time.Minute, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(httpapi.LogHandler{Handler: slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})})
	// The server's own queue length (cmd/gatehouse): tests that fire bursts
	// of concurrent hashing requests must see what production would, not
	// shedding caused by a smaller test queue. Shedding has its own test
	// (pool_test.go) with a queue of one.
	pool := password.NewPool(2, 64)
	e.met, e.rec = nil, nil
	if o.metrics {
		e.met = metrics.New(pool.QueueDepth)
		pool.OnWait = e.met.HashWait
	}
	auditor := o.auditor
	if o.recorder {
		e.rec = audit.New(store, log, e.clock.Now)
		auditor = e.rec
	}
	svc, err := auth.New(auth.Config{Store: store, Tokens: tokens, Hasher: password.NewHasher(testParams), Pool: pool,
		Policy: password.DefaultPolicy(), Now: e.clock.Now, Logger: log, Auditor: auditor, Metrics: e.met,
		KeyPepper: []byte("pepper-pepper-pepper-pepper-pepper!!"), Sealer: newTestSealer(t), Passkeys: o.passkeys})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Resync(ctx); err != nil {
		t.Fatal(err)
	}
	proxies, err := httpsec.ParseProxies(o.proxies)
	if err != nil {
		t.Fatal(err)
	}
	o.security.Proxies = proxies
	layer, err := httpsec.New(o.security)
	if err != nil {
		t.Fatal(err)
	}
	if o.loginLimit.Rate == 0 {
		o.loginLimit = ratelimit.Limit{Rate: 1000, Period: time.Minute, Burst: 1000}
	}
	hub := e.startStream(store)
	api, err := httpapi.New(httpapi.Config{Auth: svc, Store: store, Logger: log, Security: layer, Proxies: proxies,
		Metrics: e.met, Auditor: auditor, LoginLimit: o.loginLimit, RefreshLimit: o.refreshLimit, Ready: o.ready, Now: e.clock.Now,
		Revocations: hub, Redirects: o.redirects})
	if err != nil {
		t.Fatal(err)
	}
	e.svc, e.store, e.api = svc, store, api
	if ln != nil {
		e.srv = httptest.NewUnstartedServer(api)
		e.srv.Listener.Close()
		e.srv.Listener = ln
		e.srv.Start()
	} else {
		e.srv = httptest.NewServer(api)
	}
	rec := e.rec
	t.Cleanup(func() {
		e.srv.Close()
		if rec != nil {
			rec.Close()
		}
		pool.Close()
		store.Close()
	})
}

// newTestSealer is the TOTP sealer of test servers.
func newTestSealer(t *testing.T) *totp.Sealer {
	t.Helper()
	key, err := totp.DeriveKey([]byte("0123456789abcdef0123456789abcdef-totp"), "test")
	if err != nil {
		t.Fatal(err)
	}
	s, err := totp.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// restart stops the server and starts a new one on the same database.
func (e *env) restart() {
	e.srv.Close()
	e.store.Close()
	e.start()
}

func (e *env) createUser(name, pw string, role gatehouse.Role) *gatehouse.User {
	e.t.Helper()
	u, err := e.svc.CreateUser(context.Background(), auth.NewUser{Username: name, Password: pw, Role: role, Email: name + "@example.com"})
	if err != nil {
		e.t.Fatalf("create %s: %v", name, err)
	}
	return u
}

// response is a decoded answer.
type response struct {
	status int
	header http.Header
	raw    string
	body   map[string]any
}

func (r response) str(key string) string { s, _ := r.body[key].(string); return s }

func (e *env) do(method, path string, body io.Reader, header map[string]string) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	return readResponse(res)
}

// readResponse reads and decodes res's body.
func readResponse(res *http.Response) response {
	raw, _ := io.ReadAll(res.Body)
	r := response{status: res.StatusCode, header: res.Header, raw: string(raw)}
	json.Unmarshal(raw, &r.body)
	return r
}

func (e *env) form(path string, v url.Values, header ...string) response {
	h := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	for i := 0; i+1 < len(header); i += 2 {
		h[header[i]] = header[i+1]
	}
	return e.do("POST", path, strings.NewReader(v.Encode()), h)
}

func (e *env) login(user, pw string, scope ...string) response {
	v := url.Values{"username": {user}, "password": {pw}}
	if len(scope) > 0 {
		v.Set("scope", scope[0])
	}
	return e.form("/token", v)
}

// mustLogin logs in and returns the access and refresh tokens.
func (e *env) mustLogin(user, pw string) (string, string) {
	e.t.Helper()
	r := e.login(user, pw)
	if r.status != 200 {
		e.t.Fatalf("login %s: %d %s", user, r.status, r.raw)
	}
	return r.str("access_token"), r.str("refresh_token")
}

func (e *env) get(path, bearer string) response {
	h := map[string]string{}
	if bearer != "" {
		h["Authorization"] = "Bearer " + bearer
	}
	return e.do("GET", path, nil, h)
}

func (e *env) post(path, bearer string) response {
	h := map[string]string{}
	if bearer != "" {
		h["Authorization"] = "Bearer " + bearer
	}
	return e.do("POST", path, nil, h)
}

func (e *env) refreshJSON(rt string) response {
	b, _ := json.Marshal(map[string]string{"refresh_token": rt})
	return e.do("POST", "/token/refresh", bytes.NewReader(b), map[string]string{"Content-Type": "application/json"})
}

func wantStatus(t *testing.T, r response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.raw)
	}
}

func wantDetail(t *testing.T, r response, status int, detail string) {
	t.Helper()
	wantStatus(t, r, status)
	if got := r.str("detail"); got != detail {
		t.Fatalf("detail = %q, want %q (body %s)", got, detail, r.raw)
	}
}

// wantValidation checks the contract's 422 list shape and the field named.
func wantValidation(t *testing.T, r response, field string) {
	t.Helper()
	wantStatus(t, r, 422)
	list, ok := r.body["detail"].([]any)
	if !ok || len(list) == 0 {
		t.Fatalf("422 detail is not a list: %s", r.raw)
	}
	item, _ := list[0].(map[string]any)
	loc, _ := item["loc"].([]any)
	if _, ok := item["msg"].(string); !ok || item["type"] == nil || len(loc) == 0 {
		t.Fatalf("422 item lacks loc/msg/type: %s", r.raw)
	}
	if field != "" && loc[len(loc)-1] != field {
		t.Fatalf("422 loc = %v, want it to end in %q", loc, field)
	}
}

// count returns the number of rows in table, read through a connection
// of its own to the server's database file.
func (e *env) count(table string) int {
	e.t.Helper()
	db, err := sql.Open("sqlite", "file:"+e.path+"?mode=ro")
	if err != nil {
		e.t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}
