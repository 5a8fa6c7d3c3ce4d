package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/httpsec"
	"github.com/gatehouse/gatehouse/ratelimit"
)

// opsOptions configure a fullEnv.
// opsOptions configure a fullEnv.
type opsOptions struct {
	security   httpsec.Config
	proxies    []string
	loginLimit ratelimit.Limit
	ready      func(context.Context) error
	noMetrics  bool
}

// fullEnv is an env wired as `gatehouse serve` wires the server: metrics,
// the audit recorder writing to the database, request ids in the log, and
// a security layer built from opts.
type fullEnv struct{ *env }

func newFullEnv(t *testing.T, o opsOptions) *fullEnv {
	t.Helper()
	return &fullEnv{newEnvWith(t, envOptions{security: o.security, proxies: o.proxies, loginLimit: o.loginLimit,
		ready: o.ready, metrics: !o.noMetrics, recorder: true})}
}

// adminToken creates an admin and returns an access token with every scope.
func (e *fullEnv) adminToken() string {
	e.t.Helper()
	e.createUser("root", "root's long password", gatehouse.RoleAdmin)
	at, _ := e.mustLogin("root", "root's long password")
	return at
}

// events returns every stored audit event, newest first, once the
// recorder has written what it queued.
func (e *fullEnv) events() []*gatehouse.AuditEvent {
	e.t.Helper()
	e.rec.Flush()
	evs, err := e.store.AuditEvents(context.Background(), gatehouse.AuditFilter{Limit: 100_000})
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

func TestReady(t *testing.T) {
	tests := []struct {
		name       string
		ready      func(context.Context) error
		closeStore bool
		status     int
		detail     string
	}{
		{name: "database answers", status: 200},
		{name: "database closed", closeStore: true, status: 503, detail: "Database not ready"},
		{name: "dependency down names it", status: 503, detail: "Redis not ready",
			ready: func(context.Context) error {
				return &gatehouse.Error{Code: gatehouse.EUNAVAILABLE, Message: "Redis not ready", Err: errors.New("dial tcp: refused")}
			}},
		{name: "dependency error text is not sent", status: 503, detail: "Dependency not ready",
			ready: func(context.Context) error { return errors.New("dial tcp 10.0.0.7:6379: secret internal detail") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newFullEnv(t, opsOptions{ready: tt.ready})
			if tt.closeStore {
				e.store.Close()
			}
			r := e.get("/ready", "")
			wantStatus(t, r, tt.status)
			if tt.status == 200 && r.str("status") != "ready" {
				t.Fatalf("body %s", r.raw)
			}
			if tt.status == 503 {
				wantDetail(t, r, 503, tt.detail)
				if r.header.Get("Retry-After") == "" {
					t.Error("503 without Retry-After")
				}
			}
		})
	}
}

func TestMetricsIs404WhenDisabled(t *testing.T) {
	e := newFullEnv(t, opsOptions{noMetrics: true})
	wantDetail(t, e.get("/metrics", ""), 404, "Not Found")
}

// addEvents stores events directly, oldest first, one a minute from base.
func addEvents(t *testing.T, e *fullEnv, base time.Time, evs ...gatehouse.AuditEvent) {
	t.Helper()
	for i := range evs {
		evs[i].Time = base.Add(time.Duration(i) * time.Minute)
		if evs[i].Outcome == "" {
			evs[i].Outcome = gatehouse.OutcomeSuccess
		}
		if err := e.store.AddAuditEvents(context.Background(), &evs[i]); err != nil {
			t.Fatal(err)
		}
	}
}

type auditPage struct {
	Events []struct {
		ID       int64     `json:"id"`
		Time     time.Time `json:"time"`
		Type     string    `json:"type"`
		UserID   *int64    `json:"user_id"`
		Username *string   `json:"username"`
		Detail   string    `json:"detail"`
		Count    int64     `json:"count"`
	} `json:"events"`
	NextCursor *string `json:"next_cursor"`
}

func (e *fullEnv) auditPage(query, bearer string) (response, auditPage) {
	e.t.Helper()
	r := e.get("/audit?"+query, bearer)
	var p auditPage
	if r.status == 200 {
		if err := json.Unmarshal([]byte(r.raw), &p); err != nil {
			e.t.Fatalf("audit page: %v: %s", err, r.raw)
		}
	}
	return r, p
}

func TestAuditPagesNewestFirstWithCursor(t *testing.T) {
	e := newFullEnv(t, opsOptions{})
	admin := e.adminToken()
	e.rec.Flush()
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var evs []gatehouse.AuditEvent
	for i := range 7 {
		evs = append(evs, gatehouse.AuditEvent{Type: gatehouse.EventLogin, Detail: fmt.Sprint("n", i)})
	}
	addEvents(t, e, base, evs...)

	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		q := url.Values{"type": {"login"}, "since": {base.Format(time.RFC3339)}, "until": {base.Add(time.Hour).Format(time.RFC3339)}, "limit": {"3"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		r, p := e.auditPage(q.Encode(), admin)
		wantStatus(t, r, 200)
		if r.header.Get("Cache-Control") != "no-store" {
			t.Error("audit page may be cached")
		}
		for _, ev := range p.Events {
			got = append(got, ev.Detail)
		}
		if p.NextCursor == nil {
			if len(p.Events) != 1 {
				t.Fatalf("last page has %d events, want 1", len(p.Events))
			}
			break
		}
		if len(p.Events) != 3 {
			t.Fatalf("a full page has %d events, want 3", len(p.Events))
		}
		cursor = *p.NextCursor
	}
	if want := []string{"n6", "n5", "n4", "n3", "n2", "n1", "n0"}; !slices.Equal(got, want) {
		t.Fatalf("pages gave %v, want %v", got, want)
	}

	// A page that ends exactly at the last event says so.
	_, p := e.auditPage(url.Values{"since": {base.Format(time.RFC3339)}, "until": {base.Add(time.Hour).Format(time.RFC3339)}, "limit": {"7"}}.Encode(), admin)
	if len(p.Events) != 7 || p.NextCursor != nil {
		t.Fatalf("exact page: %d events, cursor %v", len(p.Events), p.NextCursor)
	}
}

func TestAuditFilters(t *testing.T) {
	e := newFullEnv(t, opsOptions{})
	admin := e.adminToken()
	alice := e.createUser("alice", "alice's long password", gatehouse.RoleUser)
	gone := e.createUser("gone", "gone's long password", gatehouse.RoleUser)
	if err := e.svc.DeleteUser(context.Background(), gone.ID); err != nil {
		t.Fatal(err)
	}
	e.rec.Flush()
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC) // before every event the setup recorded
	addEvents(t, e, base,
		gatehouse.AuditEvent{Type: gatehouse.EventLogin, UserID: alice.ID, Detail: "a0"},
		gatehouse.AuditEvent{Type: gatehouse.EventLogout, UserID: alice.ID, Detail: "a1"},
		gatehouse.AuditEvent{Type: gatehouse.EventLogin, UserID: gone.ID, Detail: "g2"},
		gatehouse.AuditEvent{Type: gatehouse.EventLogin, Username: "nobody", Outcome: gatehouse.OutcomeFailure, Detail: "x3", Count: 12},
	)
	details := func(query string) []string {
		t.Helper()
		r, p := e.auditPage(query, admin)
		wantStatus(t, r, 200)
		var out []string
		for _, ev := range p.Events {
			if strings.HasPrefix(ev.Detail, "a") || strings.HasPrefix(ev.Detail, "g") || strings.HasPrefix(ev.Detail, "x") {
				out = append(out, ev.Detail)
			}
		}
		return out
	}
	until := base.Add(10 * time.Minute).Format(time.RFC3339)
	tests := []struct {
		name, query string
		want        []string
	}{
		{"user by name", "user=alice", []string{"a1", "a0"}},
		{"user by name, any case", "user=ALICE", []string{"a1", "a0"}},
		{"user by id", fmt.Sprint("user=", alice.ID), []string{"a1", "a0"}},
		{"deleted user by id", fmt.Sprint("user=", gone.ID), []string{"g2"}},
		{"unknown user matches nothing", "user=nobody-at-all", nil},
		{"type", "type=logout&until=" + until, []string{"a1"}},
		{"type and user", "type=login&user=alice", []string{"a0"}},
		{"time range", "since=" + base.Add(time.Minute).Format(time.RFC3339) + "&until=" + base.Add(3*time.Minute).Format(time.RFC3339), []string{"g2", "a1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := details(tt.query); !slices.Equal(got, tt.want) {
				t.Fatalf("%s: got %v, want %v", tt.query, got, tt.want)
			}
		})
	}

	t.Run("each event says how many it stands for", func(t *testing.T) {
		_, p := e.auditPage("since="+base.Format(time.RFC3339)+"&until="+until, admin)
		counts := map[string]int64{}
		for _, ev := range p.Events {
			counts[ev.Detail] = ev.Count
		}
		if want := map[string]int64{"a0": 1, "a1": 1, "g2": 1, "x3": 12}; !maps.Equal(counts, want) {
			t.Fatalf("counts %v, want %v", counts, want)
		}
	})

	t.Run("usernames are filled in from the user id", func(t *testing.T) {
		_, p := e.auditPage("user=alice&type=logout", admin)
		if len(p.Events) != 1 || p.Events[0].Username == nil || *p.Events[0].Username != "alice" || *p.Events[0].UserID != alice.ID {
			t.Fatalf("events: %+v", p.Events)
		}
		_, p = e.auditPage(fmt.Sprint("user=", gone.ID, "&until=", until), admin)
		if len(p.Events) != 1 || p.Events[0].Username != nil {
			t.Fatalf("a deleted user's event: %+v", p.Events)
		}
	})
}

func TestAuditRefusesBadParameters(t *testing.T) {
	e := newFullEnv(t, opsOptions{})
	admin := e.adminToken()
	tests := []struct{ query, field string }{
		{"limit=0", "limit"},
		{"limit=201", "limit"},
		{"limit=ten", "limit"},
		{"cursor=!!", "cursor"},
		{"cursor=" + "LTE", "cursor"}, // base64url of "-1"
		{"since=yesterday", "since"},
		{"until=2026-13-01T00:00:00Z", "until"},
		{"since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z", "until"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			wantValidation(t, e.get("/audit?"+tt.query, admin), tt.field)
		})
	}
}

func TestAuditNeedsReadUsersAndAdminScope(t *testing.T) {
	e := newFullEnv(t, opsOptions{})
	e.createUser("root", "root's long password", gatehouse.RoleAdmin)
	e.createUser("mod", "mod's long password", gatehouse.RoleModerator)
	full, _ := e.mustLogin("root", "root's long password")
	narrow := e.login("root", "root's long password", "read:items").str("access_token")
	mod, _ := e.mustLogin("mod", "mod's long password")
	tests := []struct {
		name, bearer string
		status       int
	}{
		{"no token", "", 401},
		{"bad token", "nonsense", 401},
		{"admin without the admin scope", narrow, 403},
		{"moderator lacks read:users", mod, 403},
		{"admin with the admin scope", full, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantStatus(t, e.get("/audit", tt.bearer), tt.status)
		})
	}
}

// route is "METHOD /path" with Go's "/{$}" and trailing-slash twins
// folded into one.
func normaliseRoute(pattern string) string {
	method, path, _ := strings.Cut(pattern, " ")
	path = strings.TrimSuffix(path, "{$}")
	if len(path) > 1 {
		path = strings.TrimSuffix(path, "/")
	}
	return method + " " + path
}

func TestOpenAPIDocumentsExactlyTheRoutes(t *testing.T) {
	e := newFullEnv(t, opsOptions{})
	r := e.get("/openapi.json", "")
	wantStatus(t, r, 200)
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal([]byte(r.raw), &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Errorf("openapi = %q, want 3.1.x", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths {
		for method := range item {
			if method == "parameters" || method == "summary" || method == "description" {
				continue
			}
			documented[normaliseRoute(strings.ToUpper(method)+" "+path)] = true
		}
	}
	routed := map[string]bool{}
	for _, p := range e.api.Routes() {
		if strings.HasPrefix(p, "HEAD ") {
			continue // served with GET
		}
		routed[normaliseRoute(p)] = true
	}
	var missing, extra []string
	for rt := range routed {
		if !documented[rt] {
			missing = append(missing, rt)
		}
	}
	for rt := range documented {
		if !routed[rt] {
			extra = append(extra, rt)
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	if len(missing) > 0 {
		t.Errorf("routes missing from the document: %v", missing)
	}
	if len(extra) > 0 {
		t.Errorf("documented routes the server does not have: %v", extra)
	}
}

func TestOpenAPIDocumentIsSound(t *testing.T) {
	e := newFullEnv(t, opsOptions{})
	r := e.get("/openapi.json", "")
	var doc map[string]any
	if err := json.Unmarshal([]byte(r.raw), &doc); err != nil {
		t.Fatal(err)
	}
	// Every $ref resolves.
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				var node any = doc
				for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
					m, _ := node.(map[string]any)
					node = m[part]
				}
				if node == nil {
					t.Errorf("unresolved $ref %s", ref)
				}
			}
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(doc)

	get := func(path ...string) any {
		var node any = doc
		for _, p := range path {
			m, _ := node.(map[string]any)
			node = m[p]
		}
		return node
	}
	pw := []string{"components", "securitySchemes", "OAuth2PasswordBearer", "flows", "password"}
	if get(append(pw, "tokenUrl")...) != "/token" || get(append(pw, "refreshUrl")...) != "/token/refresh" {
		t.Error("OAuth2 password flow: tokenUrl /token, refreshUrl /token/refresh")
	}
	for _, s := range []string{"read:items", "write:items", "admin"} {
		if get(append(pw, "scopes", s)...) == nil {
			t.Errorf("OAuth2 scope %s undocumented", s)
		}
	}
	if get("components", "securitySchemes", "APIKeyHeader", "name") != "X-API-Key" || get("components", "securitySchemes", "APIKeyHeader", "in") != "header" {
		t.Error("API key scheme: header X-API-Key")
	}
	for _, f := range []string{"username", "password", "scope", "otp", "mfa_token", "grant_type", "refresh_token"} {
		if get("components", "schemas", "TokenRequest", "properties", f) == nil {
			t.Errorf("/token form field %s undocumented", f)
		}
	}
	// Every operation says what it answers.
	for path, item := range get("paths").(map[string]any) {
		for method, op := range item.(map[string]any) {
			if method == "parameters" {
				continue
			}
			if rs, _ := op.(map[string]any)["responses"].(map[string]any); len(rs) == 0 {
				t.Errorf("%s %s has no responses", method, path)
			}
		}
	}
}

func TestDocsPageWorksOffline(t *testing.T) {
	e := newFullEnv(t, opsOptions{})
	r := e.get("/docs", "")
	wantStatus(t, r, 200)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("Content-Type = %q", ct)
	}
	csp := r.header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("docs CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") || strings.Contains(csp, "*") {
		t.Errorf("docs CSP %q is too loose", csp)
	}
	if regexp.MustCompile(`<script>|<style|\son[a-z]+=`).MatchString(r.raw) {
		t.Error("the page has inline script or style, which its CSP forbids")
	}
	if e.get("/docs/", "").status != 200 {
		t.Error("/docs/ is not served")
	}

	// Every asset the page names is served by the binary, with its type,
	// and nothing names another host.
	assets := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(r.raw, -1)
	if len(assets) < 3 {
		t.Fatalf("page names %d assets: %s", len(assets), r.raw)
	}
	types := map[string]string{".js": "text/javascript", ".css": "text/css", ".json": "application/json"}
	for _, m := range assets {
		ref := m[1]
		if !strings.HasPrefix(ref, "/") || strings.HasPrefix(ref, "//") {
			t.Errorf("asset %q is not served by this server", ref)
			continue
		}
		a := e.get(ref, "")
		wantStatus(t, a, 200)
		if want := types[filepath.Ext(ref)]; !strings.HasPrefix(a.header.Get("Content-Type"), want) {
			t.Errorf("%s: Content-Type %q, want %s", ref, a.header.Get("Content-Type"), want)
		}
		if ext := filepath.Ext(ref); ext == ".js" || ext == ".css" {
			if u := regexp.MustCompile(`(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}`).FindString(a.raw); u != "" {
				t.Errorf("%s loads from another host: %s", ref, u)
			}
		}
	}
	for _, p := range []string{"/docs/index.html", "/docs/nope.js", "/docs/..%2fopenapi.json"} {
		if s := e.get(p, "").status; s != 404 {
			t.Errorf("GET %s = %d, want 404", p, s)
		}
	}
}

func TestDocsCSPIsForThePageOnly(t *testing.T) {
	e := newFullEnv(t, opsOptions{})
	for _, p := range []string{"/openapi.json", "/docs/docs.js", "/health"} {
		if csp := e.get(p, "").header.Get("Content-Security-Policy"); csp != httpsec.APICSP {
			t.Errorf("%s: CSP %q, want the API's", p, csp)
		}
	}
}
