package httpapi_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/httpsec"
	"github.com/gatehouse/gatehouse/ratelimit"
	"github.com/gatehouse/gatehouse/totp"
)

// request sends one request without following redirects. host, if set,
// replaces the Host header.
func (e *fullEnv) request(method, path, host string, body io.Reader, header map[string]string) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := &http.Client{Transport: e.srv.Client().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := response{status: res.StatusCode, header: res.Header, raw: string(raw)}
	json.Unmarshal(raw, &r.body)
	return r
}

// wantSecurityHeaders checks contract §8's headers on an API answer over
// plain HTTP.
func wantSecurityHeaders(t *testing.T, r response) {
	t.Helper()
	want := map[string]string{
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
		"Referrer-Policy":         "no-referrer",
		"Content-Security-Policy": httpsec.APICSP,
	}
	for k, v := range want {
		if got := r.header.Get(k); got != v {
			t.Errorf("%d answer: %s = %q, want %q", r.status, k, got, v)
		}
	}
	if x := r.header.Values("X-XSS-Protection"); len(x) > 0 && x[0] != "0" {
		t.Errorf("%d answer: X-XSS-Protection = %q, want absent or 0", r.status, x)
	}
	if h := r.header.Get("Strict-Transport-Security"); h != "" {
		t.Errorf("%d answer: HSTS %q over plain HTTP (RFC 6797 §7.2)", r.status, h)
	}
	if r.header.Get("X-Request-ID") == "" {
		t.Errorf("%d answer without X-Request-ID", r.status)
	}
}

func TestSecurityHeadersOnEveryAnswer(t *testing.T) {
	e := newFullEnv(t, opsOptions{security: httpsec.Config{TrustedHosts: []string{"127.0.0.1"}}})
	for range 5 {
		e.get("/limited", "")
	}
	tests := []struct {
		name          string
		method, path  string
		host          string
		body          string
		status        int
		wantHeaderKey string
	}{
		{name: "200", method: "GET", path: "/health", status: 200},
		{name: "401", method: "GET", path: "/users/me", status: 401, wantHeaderKey: "WWW-Authenticate"},
		{name: "404", method: "GET", path: "/nope", status: 404},
		{name: "405", method: "DELETE", path: "/health", status: 405, wantHeaderKey: "Allow"},
		{name: "422", method: "POST", path: "/token", body: "grant_type=password", status: 422},
		{name: "429", method: "GET", path: "/limited", status: 429, wantHeaderKey: "Retry-After"},
		{name: "400 bad host", method: "GET", path: "/health", host: "evil.example", status: 400},
		{name: "413", method: "POST", path: "/token", body: strings.Repeat("a", 1<<20+1), status: 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
			r := e.request(tt.method, tt.path, tt.host, strings.NewReader(tt.body), h)
			wantStatus(t, r, tt.status)
			wantSecurityHeaders(t, r)
			if tt.wantHeaderKey != "" && r.header.Get(tt.wantHeaderKey) == "" {
				t.Errorf("%d answer without %s", r.status, tt.wantHeaderKey)
			}
			if !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") || r.body["detail"] == nil && r.status >= 400 {
				t.Errorf("%d answer is not a JSON error: %q %s", r.status, r.header.Get("Content-Type"), r.raw)
			}
		})
	}
}

func TestNoStoreOnTokenAndUserAnswers(t *testing.T) {
	e := newFullEnv(t, opsOptions{})
	admin := e.adminToken()
	bob := e.createUser("bob", "bob's long password", gatehouse.RoleUser)
	login := e.login("bob", "bob's long password")
	tests := []struct {
		name string
		r    response
	}{
		{"token", login},
		{"token refused", e.login("bob", "wrong password!")},
		{"refresh", e.refreshJSON(login.str("refresh_token"))},
		{"users/me", e.get("/users/me", login.str("access_token"))},
		{"users/{id}", e.get(fmt.Sprint("/users/", bob.ID), admin)},
		{"users", e.get("/users", admin)},
		{"audit", e.get("/audit", admin)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.r.status >= 500 {
				t.Fatalf("status %d", tt.r.status)
			}
			if cc := tt.r.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
		})
	}
}

func TestCORS(t *testing.T) {
	const app = "https://app.example.com"
	e := newFullEnv(t, opsOptions{security: httpsec.Config{CORSOrigins: []string{app}}})
	off := newFullEnv(t, opsOptions{})
	preflight := func(e *fullEnv, origin string) response {
		return e.request("OPTIONS", "/token", "", nil, map[string]string{"Origin": origin,
			"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type"})
	}
	get := func(e *fullEnv, origin string) response {
		return e.request("GET", "/health", "", nil, map[string]string{"Origin": origin})
	}
	tests := []struct {
		name      string
		r         response
		allowed   bool
		preflight bool
	}{
		{"listed origin", get(e, app), true, false},
		{"unlisted origin", get(e, "https://evil.example.com"), false, false},
		{"null origin", get(e, "null"), false, false},
		{"listed origin's look-alike", get(e, "https://app.example.com.evil.example"), false, false},
		{"preflight from the listed origin", preflight(e, app), true, true},
		{"preflight from an unlisted origin", preflight(e, "https://evil.example.com"), false, true},
		{"preflight from null", preflight(e, "null"), false, true},
		{"no origins configured", get(off, app), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acao := tt.r.header.Get("Access-Control-Allow-Origin")
			if acao == "*" {
				t.Fatal("Access-Control-Allow-Origin: *")
			}
			if tt.allowed != (acao == app) {
				t.Fatalf("Access-Control-Allow-Origin = %q, allowed %v", acao, tt.allowed)
			}
			if tt.preflight && tt.allowed {
				if tt.r.status >= 300 {
					t.Errorf("preflight status %d", tt.r.status)
				}
				if m := tt.r.header.Get("Access-Control-Allow-Methods"); !strings.Contains(m, "POST") {
					t.Errorf("Allow-Methods = %q", m)
				}
				if h := strings.ToLower(tt.r.header.Get("Access-Control-Allow-Headers")); !strings.Contains(h, "authorization") {
					t.Errorf("Allow-Headers = %q", h)
				}
			}
			if tt.r.header.Get("X-Content-Type-Options") != "nosniff" {
				t.Error("answer without the security headers")
			}
			if tt.name != "no origins configured" && !strings.Contains(strings.Join(tt.r.header.Values("Vary"), ","), "Origin") {
				t.Errorf("Vary = %q, want Origin", tt.r.header.Values("Vary"))
			}
		})
	}
}

func TestTrustedHosts(t *testing.T) {
	e := newFullEnv(t, opsOptions{security: httpsec.Config{TrustedHosts: []string{"api.example.com", "*.example.org"}}})
	tests := []struct {
		host string
		ok   bool
	}{
		{"api.example.com", true},
		{"API.EXAMPLE.COM:8443", true},
		{"eu.example.org", true},
		{"example.org", false},
		{"evil.example", false},
		{"api.example.com.evil.example", false},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			r := e.request("GET", "/health", tt.host, nil, nil)
			if tt.ok {
				wantStatus(t, r, 200)
			} else {
				wantDetail(t, r, 400, "Invalid host header")
			}
		})
	}
}

func TestHTTPSRedirectBelievesOnlyTrustedProxies(t *testing.T) {
	trusted := newFullEnv(t, opsOptions{proxies: []string{"127.0.0.1/32"}, security: httpsec.Config{HTTPSRedirect: true}})
	untrusted := newFullEnv(t, opsOptions{proxies: []string{"10.0.0.0/8"}, security: httpsec.Config{HTTPSRedirect: true}})
	tests := []struct {
		name   string
		e      *fullEnv
		method string
		proto  string // X-Forwarded-Proto
		status int
	}{
		{"plain GET is redirected", untrusted, "GET", "", 308},
		{"forged proto from an untrusted peer changes nothing", untrusted, "GET", "https", 308},
		{"plain POST is refused, not redirected", untrusted, "POST", "", 403},
		{"forged proto does not let a POST through", untrusted, "POST", "https", 403},
		{"trusted proxy says https", trusted, "GET", "https", 200},
		{"trusted proxy says http", trusted, "GET", "http", 308},
		{"trusted proxy says http for a POST", trusted, "POST", "http", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := map[string]string{}
			if tt.proto != "" {
				h["X-Forwarded-Proto"] = tt.proto
			}
			path := "/health?x=1"
			if tt.method == "POST" {
				path = "/token"
			}
			r := tt.e.request(tt.method, path, "api.example.com:8080", nil, h)
			wantStatus(t, r, tt.status)
			switch tt.status {
			case 308:
				if loc := r.header.Get("Location"); loc != "https://api.example.com/health?x=1" {
					t.Errorf("Location = %q", loc)
				}
			case 403:
				wantDetail(t, r, 403, "HTTPS required")
			case 200:
				if hsts := r.header.Get("Strict-Transport-Security"); !strings.Contains(hsts, "max-age=31536000") {
					t.Errorf("HTTPS answer: HSTS = %q", hsts)
				}
			}
			if tt.status != 200 && r.header.Get("Strict-Transport-Security") != "" {
				t.Error("HSTS on a plain-HTTP answer")
			}
		})
	}
}

func TestLimitedAllowsFiveAMinuteThenRetryAfter(t *testing.T) {
	e := newFullEnv(t, opsOptions{})
	for i := range 5 {
		r := e.get("/limited", "")
		wantStatus(t, r, 200)
		if got := r.header.Get("RateLimit-Remaining"); got != strconv.Itoa(4-i) {
			t.Errorf("request %d: RateLimit-Remaining = %q, want %d", i+1, got, 4-i)
		}
	}
	r := e.get("/limited", "")
	wantDetail(t, r, 429, "Rate limit exceeded")
	retry, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || retry < 1 || retry > 60 {
		t.Fatalf("Retry-After = %q", r.header.Get("Retry-After"))
	}
	for _, h := range []string{"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy"} {
		if r.header.Get(h) == "" {
			t.Errorf("429 without %s", h)
		}
	}
	if r.header.Get("RateLimit-Limit") != "5" || r.header.Get("RateLimit-Remaining") != "0" {
		t.Errorf("RateLimit-Limit %q, -Remaining %q", r.header.Get("RateLimit-Limit"), r.header.Get("RateLimit-Remaining"))
	}

	e.clock.Advance(time.Duration(retry-1) * time.Second)
	wantStatus(t, e.get("/limited", ""), 429)
	e.clock.Advance(time.Second) // waiting exactly Retry-After is enough
	wantStatus(t, e.get("/limited", ""), 200)
	e.clock.Advance(time.Minute) // a quiet minute restores the whole allowance
	for range 5 {
		wantStatus(t, e.get("/limited", ""), 200)
	}
}

func TestForgedForwardedForDoesNotChangeTheClientKey(t *testing.T) {
	t.Run("from an untrusted peer", func(t *testing.T) {
		e := newFullEnv(t, opsOptions{proxies: []string{"10.0.0.0/8"}})
		for i := range 5 {
			wantStatus(t, e.do("GET", "/limited", nil, map[string]string{"X-Forwarded-For": fmt.Sprint("203.0.113.", i)}), 200)
		}
		r := e.do("GET", "/limited", nil, map[string]string{"X-Forwarded-For": "203.0.113.99"})
		wantStatus(t, r, 429)
	})
	// The control: from a trusted proxy the header does name the client,
	// so the test above would notice if the header were believed.
	t.Run("from a trusted proxy", func(t *testing.T) {
		e := newFullEnv(t, opsOptions{proxies: []string{"127.0.0.1/32"}})
		for range 5 {
			wantStatus(t, e.do("GET", "/limited", nil, map[string]string{"X-Forwarded-For": "203.0.113.1"}), 200)
		}
		wantStatus(t, e.do("GET", "/limited", nil, map[string]string{"X-Forwarded-For": "203.0.113.1"}), 429)
		wantStatus(t, e.do("GET", "/limited", nil, map[string]string{"X-Forwarded-For": "203.0.113.2"}), 200)
		// A client cannot pick its key by prepending an address.
		wantStatus(t, e.do("GET", "/limited", nil, map[string]string{"X-Forwarded-For": "198.51.100.7, 203.0.113.1"}), 429)
	})
}

func TestLoginLimitedPerIPAndPerUsername(t *testing.T) {
	limit := ratelimit.Limit{Rate: 3, Period: time.Minute, Burst: 3}
	e := newFullEnv(t, opsOptions{proxies: []string{"127.0.0.1/32"}, loginLimit: limit})
	e.createUser("alice", "alice's long password", gatehouse.RoleUser)
	loginFrom := func(ip, user, pw string) response {
		return e.form("/token", url.Values{"username": {user}, "password": {pw}}, "X-Forwarded-For", ip)
	}

	// A spray from one address across accounts.
	for i := range 3 {
		wantStatus(t, loginFrom("198.51.100.1", fmt.Sprint("user", i), "wrong password"), 401)
	}
	r := loginFrom("198.51.100.1", "alice", "alice's long password")
	wantStatus(t, r, 429)
	if r.header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	// The second step of a two-factor login counts against the same
	// address: it is not a way around the limit.
	r = e.form("/token", url.Values{"grant_type": {"urn:gatehouse:params:oauth:grant-type:mfa-otp"}, "mfa_token": {"ghm_x"}, "otp": {"123456"}},
		"X-Forwarded-For", "198.51.100.1")
	wantStatus(t, r, 429)
	if r.header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After on the second step")
	}

	// Guessing at one account from many addresses.
	for i := range 3 {
		wantStatus(t, loginFrom(fmt.Sprint("192.0.2.", i+1), "alice", "wrong password"), 401)
	}
	r = loginFrom("192.0.2.200", "ALICE", "alice's long password")
	wantStatus(t, r, 429)
	if r.header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}

	// The owner is not locked out for good: once the window passes, the
	// right password works again.
	e.clock.Advance(time.Minute)
	wantStatus(t, loginFrom("192.0.2.201", "alice", "alice's long password"), 200)
}

// rawExchange writes req on a new connection to addr and reads until the
// server closes it, or bound passes. closed reports which.
func rawExchange(t *testing.T, addr, req string, bound time.Duration) (answer string, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(bound))
	b, err := io.ReadAll(c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return string(b), false
	}
	return string(b), true
}

func TestSlowClientCannotHoldAConnection(t *testing.T) {
	e := newFullEnv(t, opsOptions{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// The timeouts serve sets, made short.
	srv := &http.Server{Handler: e.api, ReadHeaderTimeout: 200 * time.Millisecond, ReadTimeout: 400 * time.Millisecond}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	tests := []struct{ name, req string }{
		{"half a header", "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "},
		{"a header, then silence", "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n"},
		{"half a body", "POST /comments HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"content\": "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Generous: the server must close long before this.
			if _, closed := rawExchange(t, ln.Addr().String(), tt.req, 10*time.Second); !closed {
				t.Fatal("the server kept a stalled connection open")
			}
		})
	}
}

func TestContentLengthWithTransferEncodingIsAnsweredOnceAndClosed(t *testing.T) {
	e := newFullEnv(t, opsOptions{})
	// A front end that goes by Content-Length sees one request with a
	// 5-byte body; one that goes by Transfer-Encoding sees a second,
	// smuggled request. RFC 9112 §6.1: answer at most once and close.
	req := "POST /comments HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
		"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
		"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
	answer, closed := rawExchange(t, e.srv.Listener.Addr().String(), req, 3*time.Second)
	if status := regexp.MustCompile(`HTTP/1\.1 \d+[^\r]*`).FindAllString(answer, -1); len(status) > 1 {
		t.Errorf("answered %d times: %q", len(status), status)
	}
	if !closed {
		t.Error("connection left open after a request with both Content-Length and Transfer-Encoding")
	}
}

func TestRequestIDIsEchoedOrGeneratedAndLogged(t *testing.T) {
	e := newFullEnv(t, opsOptions{})
	generated := regexp.MustCompile(`^[0-9a-f]{24}$`)
	tests := []struct {
		name, sent string
		echoed     bool
	}{
		{"a plain id is echoed", "trace-42.abc_DEF", true},
		{"none is generated", "", false},
		{"one with spaces is replaced", "two words", false},
		{"one with markup is replaced", "<script>", false},
		{"a long one is replaced", strings.Repeat("a", 65), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(e.logs.String())
			h := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
			if tt.sent != "" {
				h["X-Request-ID"] = tt.sent
			}
			// A failed login logs an access line and an audit line.
			r := e.request("POST", "/token", "", strings.NewReader("username=nobody&password=wrong+password"), h)
			wantStatus(t, r, 401)
			id := r.header.Get("X-Request-ID")
			if tt.echoed && id != tt.sent {
				t.Fatalf("X-Request-ID = %q, want %q", id, tt.sent)
			}
			if !tt.echoed && !generated.MatchString(id) {
				t.Fatalf("X-Request-ID = %q, want a generated id", id)
			}
			e.rec.Flush()
			lines := strings.Split(strings.TrimSpace(e.logs.String()[before:]), "\n")
			if len(lines) < 2 {
				t.Fatalf("want an access and an audit line, got %q", lines)
			}
			for _, l := range lines {
				if !strings.Contains(l, `"request_id":"`+id+`"`) {
					t.Errorf("log line without the request id %s: %s", id, l)
				}
			}
		})
	}
}

// secrets collects every secret a flow handled.
type secrets []string

func (s *secrets) add(v ...string) {
	for _, x := range v {
		if x != "" {
			*s = append(*s, x)
		}
	}
}

func TestEveryAuditEventIsStoredAndNoSecretIsLoggedOrStored(t *testing.T) {
	e := newFullEnv(t, opsOptions{})
	var sec secrets
	const rootPW, bobPW, bobPW2 = "root's long password", "bob's long password", "bob's other password"
	sec.add(rootPW, bobPW, bobPW2, "a wrong password")
	root := e.createUser("root", rootPW, gatehouse.RoleAdmin) // outside any request
	admin, _ := e.mustLogin("root", rootPW)
	sec.add(admin)
	jsonH := map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + admin}
	jsonBody := func(v any) io.Reader { b, _ := json.Marshal(v); return bytes.NewReader(b) }

	// user_created, user_changed (through the admin API).
	r := e.do("POST", "/users", jsonBody(map[string]any{"username": "bob", "password": bobPW}), jsonH)
	wantStatus(t, r, 201)
	bobID := int64(r.body["id"].(float64))
	wantStatus(t, e.do("PATCH", fmt.Sprint("/users/", bobID), jsonBody(map[string]any{"password": bobPW2, "full_name": "Bob"}), jsonH), 200)

	// login failure and success, refresh, refresh reuse, logout.
	wantStatus(t, e.login("bob", "a wrong password"), 401)
	at, rt := e.mustLogin("bob", bobPW2)
	sec.add(at, rt)
	r = e.refreshJSON(rt)
	wantStatus(t, r, 200)
	sec.add(r.str("access_token"), r.str("refresh_token"))
	e.clock.Advance(3 * time.Second)
	wantStatus(t, e.refreshJSON(rt), 401)
	at, rt = e.mustLogin("bob", bobPW2)
	sec.add(at, rt)

	// permission refused, rate limited.
	wantStatus(t, e.get("/audit", at), 403)
	for range 6 {
		e.get("/limited", "")
	}

	// API keys: created, used, refused, revoked.
	r = e.do("POST", "/api-keys", jsonBody(map[string]any{"name": "ci"}), map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + at})
	wantStatus(t, r, 201)
	key := r.str("key")
	sec.add(key)
	wantStatus(t, e.do("GET", "/protected", nil, map[string]string{"X-API-Key": key}), 200)
	wrongKey := key[:len(key)-4] + "AAAA"
	sec.add(wrongKey)
	wantStatus(t, e.do("GET", "/protected", nil, map[string]string{"X-API-Key": wrongKey}), 403)
	wantStatus(t, e.do("DELETE", fmt.Sprint("/api-keys/", int64(r.body["id"].(float64))), nil, map[string]string{"Authorization": "Bearer " + at}), 200)

	// Two-factor: enabled, used, failed, disabled.
	r = e.do("POST", "/2fa/setup", nil, map[string]string{"Authorization": "Bearer " + at, "Accept": "application/json"})
	wantStatus(t, r, 200)
	secret := r.str("secret")
	sec.add(secret, r.str("otpauth_uri"))
	code := func() string {
		c, err := totp.Code(secret, e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		sec.add(c)
		return c
	}
	codeReq := func(path, c string) response {
		return e.do("POST", path, jsonBody(map[string]string{"code": c}), map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + at})
	}
	r = codeReq("/2fa/verify", code())
	wantStatus(t, r, 200)
	for _, c := range r.body["recovery_codes"].([]any) {
		sec.add(c.(string))
	}
	e.clock.Advance(30 * time.Second)
	r = e.form("/token", url.Values{"username": {"bob"}, "password": {bobPW2}, "otp": {code()}})
	wantStatus(t, r, 200)
	sec.add(r.str("access_token"), r.str("refresh_token"))
	wrong := "000000"
	if wrong == code() {
		wrong = "111111"
	}
	r = e.form("/token", url.Values{"username": {"bob"}, "password": {bobPW2}})
	wantStatus(t, r, 401)
	sec.add(r.str("mfa_token"))
	wantStatus(t, e.form("/token", url.Values{"grant_type": {"urn:gatehouse:params:oauth:grant-type:mfa-otp"}, "mfa_token": {r.str("mfa_token")}, "otp": {wrong}}), 401)
	e.clock.Advance(30 * time.Second)
	wantStatus(t, codeReq("/2fa/disable", code()), 200)

	// user_deleted; logout.
	wantStatus(t, e.post("/logout", at), 200)
	wantStatus(t, e.do("DELETE", fmt.Sprint("/users/", bobID), nil, jsonH), 200)

	events := e.events()
	seen := map[string]bool{}
	for _, ev := range events {
		seen[ev.Type] = true
	}
	for _, typ := range []string{gatehouse.EventLogin, gatehouse.EventRefresh, gatehouse.EventRefreshReuse, gatehouse.EventLogout,
		gatehouse.EventTwoFactorEnabled, gatehouse.EventTwoFactorUsed, gatehouse.EventTwoFactorFailed, gatehouse.EventTwoFactorDisabled,
		gatehouse.EventAPIKeyCreated, gatehouse.EventAPIKeyRevoked, gatehouse.EventAPIKeyRefused,
		gatehouse.EventUserCreated, gatehouse.EventUserChanged, gatehouse.EventUserDeleted,
		gatehouse.EventPermissionRefused, gatehouse.EventRateLimited} {
		if !seen[typ] {
			t.Errorf("no %s event in the audit table", typ)
		}
	}
	for _, ev := range events {
		if ev.Type == gatehouse.EventUserCreated && ev.UserID == root.ID {
			continue
		}
		if ev.RequestID == "" || ev.ClientIP != "127.0.0.1" || ev.Outcome == "" || ev.Time.IsZero() || strings.Contains(ev.Path, "?") {
			t.Errorf("incomplete event: %+v", ev)
		}
	}

	// Scan the log and every field of every stored event.
	var table strings.Builder
	for _, ev := range events {
		fmt.Fprintf(&table, "%+v\n", *ev)
	}
	logs := e.logs.String()
	for _, s := range sec {
		for where, text := range map[string]string{"log": logs, "audit table": table.String()} {
			if containsSecret(text, s) {
				t.Errorf("a secret (%d bytes, starts %.4q) reached the %s", len(s), s, where)
			}
		}
	}
}

// containsSecret looks for s in text; a short code counts only as a whole
// word, so a timestamp that happens to contain its digits is not a leak.
// A JWT also counts when only its signature appears.
func containsSecret(text, s string) bool {
	if len(s) <= 10 {
		return regexp.MustCompile(`\b` + regexp.QuoteMeta(s) + `\b`).MatchString(text)
	}
	if strings.Contains(text, s) {
		return true
	}
	if parts := strings.Split(s, "."); len(parts) == 3 && strings.Contains(text, parts[2]) {
		return true
	}
	return false
}

func TestMetricsCountWhatHappened(t *testing.T) {
	e := newFullEnv(t, opsOptions{loginLimit: ratelimit.Limit{Rate: 2, Period: time.Minute, Burst: 2}})
	e.createUser("bob", "bob's long password", gatehouse.RoleUser)
	wantStatus(t, e.login("bob", "a wrong password"), 401)
	at, rt := e.mustLogin("bob", "bob's long password")
	wantStatus(t, e.refreshJSON(rt), 200)
	e.clock.Advance(3 * time.Second)
	wantStatus(t, e.refreshJSON(rt), 401) // reuse: revokes the session
	wantStatus(t, e.login("bob", "bob's long password"), 429)
	e.clock.Advance(time.Minute)
	at, _ = e.mustLogin("bob", "bob's long password")
	wantStatus(t, e.post("/logout", at), 200)
	for range 6 {
		e.get("/limited", "")
	}
	e.get("/nope/some-path", "")

	r := e.get("/metrics", "")
	wantStatus(t, r, 200)
	if !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Errorf("Content-Type = %q", r.header.Get("Content-Type"))
	}
	values := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(r.raw))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			values[line[:i]] = v
		}
	}
	tests := []struct {
		series string
		min    float64
	}{
		{`gatehouse_http_requests_total{method="GET",route="GET /limited",status="200"}`, 5},
		{`gatehouse_http_requests_total{method="GET",route="GET /limited",status="429"}`, 1},
		{`gatehouse_http_requests_total{method="POST",route="POST /token",status="401"}`, 1},
		{`gatehouse_http_request_duration_seconds_count{method="POST",route="POST /token"}`, 4},
		{`gatehouse_logins_total{outcome="success"}`, 2},
		{`gatehouse_logins_total{outcome="failure"}`, 1},
		{`gatehouse_tokens_issued_total{grant="password"}`, 2},
		{`gatehouse_tokens_issued_total{grant="refresh"}`, 1},
		{`gatehouse_refresh_reuse_detected_total`, 1},
		{`gatehouse_revocations_total{reason="reuse"}`, 1},
		{`gatehouse_revocations_total{reason="logout"}`, 1},
		{`gatehouse_rate_limited_total{limit="limited"}`, 1},
		{`gatehouse_rate_limited_total{limit="login_ip"}`, 1},
		{`gatehouse_password_hash_queue_depth`, 0},
		{`gatehouse_password_hash_wait_seconds_count`, 3},
	}
	for _, tt := range tests {
		v, ok := values[tt.series]
		if !ok {
			t.Errorf("no series %s", tt.series)
			continue
		}
		if v < tt.min {
			t.Errorf("%s = %v, want at least %v", tt.series, v, tt.min)
		}
	}
	// Unmatched paths share one label, so scanners cannot grow the series.
	if strings.Contains(r.raw, "some-path") || values[`gatehouse_http_requests_total{method="GET",route="unmatched",status="404"}`] != 1 {
		t.Error("an unmatched path did not land under route=\"unmatched\"")
	}
}
