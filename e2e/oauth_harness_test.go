package e2e

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// The OAuth tests drive the built binary as a relying party and a user's
// browser would (contract §13): clients registered with the CLI, a user
// agent with a cookie jar that reads the login and consent pages' forms
// and submits them, and token requests as RFC 6749 words them. Nothing
// here imports Gatehouse's packages.

const (
	oauthAdmin    = "admin"
	oauthAdminPW  = "e2e-admin-password-1"
	loopbackRedir = "http://127.0.0.1/callback" // any port may be used (RFC 8252 §7.3)
)

// oauthServer is one Gatehouse on its own SQLite file, or several behind
// one address (base).
type oauthServer struct {
	*instance
	db     string   // the SQLite file; "" for a cluster
	cliEnv []string // what a CLI command needs to reach the database
}

func startOAuth(t testing.TB, extraEnv ...string) *oauthServer {
	t.Helper()
	db := filepath.Join(t.TempDir(), "g.db")
	env := append([]string{"GATEHOUSE_LOGIN_RATE_LIMIT=100000/minute", "GATEHOUSE_KEY_ROTATION=0", "GATEHOUSE_JWKS_MAX_AGE=1s"}, extraEnv...)
	return &oauthServer{instance: startSQLite(t, db, env...), db: db, cliEnv: []string{"GATEHOUSE_DATABASE_URL=sqlite:" + db,
		"GATEHOUSE_ENCRYPTION_KEY=", "GATEHOUSE_SECRET_KEY=", "GATEHOUSE_REDIS_URL=", "GATEHOUSE_JWKS_MAX_AGE=1s"}}
}

// cli runs a gatehouse command on the server's database, as an operator does.
func (s *oauthServer) cli(t testing.TB, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), s.cliEnv...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gatehouse %s: %v: %s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// oclient is a registered client as its developer knows it.
type oclient struct {
	id, secret string
	redirect   string // the first registered redirect URI
}

// newClient registers a client with `gatehouse client create` and reads
// the lines it prints (contract §13: "client_id: …", "client_secret: …").
func (s *oauthServer) newClient(t testing.TB, name string, flags ...string) *oclient {
	t.Helper()
	out := s.cli(t, append([]string{"client", "create", name}, flags...)...)
	c := &oclient{}
	for _, line := range strings.Split(out, "\n") {
		k, v, _ := strings.Cut(line, ":")
		switch strings.TrimSpace(k) {
		case "client_id":
			c.id = strings.TrimSpace(v)
		case "client_secret":
			c.secret = strings.TrimSpace(v)
		}
	}
	for i, f := range flags {
		if f == "--redirect-uri" && i+1 < len(flags) && c.redirect == "" {
			c.redirect = flags[i+1]
		}
	}
	if c.id == "" {
		t.Fatalf("client create printed no client_id: %q", out)
	}
	return c
}

// newClientAPI registers a client with the admin API (POST /clients) as
// an administrator's script would.
func (s *oauthServer) newClientAPI(t testing.TB, body map[string]any) *oclient {
	t.Helper()
	tok, _ := json.Marshal(body)
	st, m, _ := s.tokenCall(t, "/token", &oclient{}, "", url.Values{"username": {oauthAdmin}, "password": {oauthAdminPW}})
	if st != 200 {
		t.Fatalf("admin login: %d %v", st, m)
	}
	req, _ := http.NewRequest("POST", s.base+"/clients", strings.NewReader(string(tok)))
	req.Header.Set("Authorization", "Bearer "+str(m, "access_token"))
	req.Header.Set("Content-Type", "application/json")
	st, m, _ = doJSON(t, req)
	if st != 201 || str(m, "client_id") == "" {
		t.Fatalf("POST /clients: %d %v", st, m)
	}
	c := &oclient{id: str(m, "client_id"), secret: str(m, "client_secret")}
	if uris, _ := body["redirect_uris"].([]string); len(uris) > 0 {
		c.redirect = uris[0]
	}
	return c
}

// randomToken is a URL-safe random string (a state, nonce or verifier).
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func s256(verifier string) string {
	h := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// authReq is one authorization request and the secrets its client keeps.
type authReq struct {
	params   url.Values
	verifier string
}

// newAuthReq is a well-formed code+PKCE request for c; extra replaces or
// adds parameters (an empty value removes one).
func newAuthReq(c *oclient, redirect, scope string, extra url.Values) *authReq {
	v := randomToken()
	p := url.Values{
		"response_type":         {"code"},
		"client_id":             {c.id},
		"redirect_uri":          {redirect},
		"scope":                 {scope},
		"state":                 {randomToken()},
		"nonce":                 {randomToken()},
		"code_challenge":        {s256(v)},
		"code_challenge_method": {"S256"},
	}
	for k, vals := range extra {
		if len(vals) == 1 && vals[0] == "" {
			p.Del(k)
		} else {
			p[k] = vals
		}
	}
	return &authReq{params: p, verifier: v}
}

func (s *oauthServer) authorizeURL(a *authReq) string {
	return s.base + "/authorize?" + a.params.Encode()
}

// browser is a user agent: a cookie jar, redirects followed by hand, and
// the login and consent forms filled in as a person would.
type browser struct {
	t          testing.TB
	c          *http.Client
	user, pass string
	consent    string        // "allow" or "deny"
	otp        func() string // the code a second-step form asks for; nil: none expected
}

func newBrowser(t testing.TB) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, user: oauthAdmin, pass: oauthAdminPW, consent: "allow", c: &http.Client{
		Jar: jar, Timeout: 15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// visit is what a browser run came to.
type visit struct {
	// redirect is where the browser was first sent off the origin it
	// started on (from Gatehouse: the client's redirect URI), nil when it
	// never was.
	redirect *url.URL
	status   int      // of the last response read
	body     string   // of the last response read
	logins   int      // login forms submitted
	consents int      // consent forms submitted
	codes    int      // second-step (2FA code) forms submitted
	urls     []string // every request made, as "METHOD URL"
}

// run starts at u and follows redirects, filling in the login and
// consent forms it meets, until the browser is first sent off u's origin
// (redirect). follow: go on from there, wherever redirects lead (a
// client's loopback listener, a relying party's pages), until a response
// that is neither a redirect nor a page with one of those forms.
func (b *browser) run(u string, follow bool) *visit {
	b.t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.runFrom(req, follow)
}

// runRequest is run starting with req (a form's submission).
func (b *browser) runRequest(req *http.Request) *visit {
	b.t.Helper()
	return b.runFrom(req, false)
}

func (b *browser) runFrom(req *http.Request, follow bool) *visit {
	b.t.Helper()
	origin := req.URL.Scheme + "://" + req.URL.Host
	u := req.URL.String()
	v := &visit{}
	for step := 0; step < 30; step++ {
		req.Header.Set("Accept", "text/html,application/xhtml+xml")
		v.urls = append(v.urls, req.Method+" "+req.URL.String())
		res, err := b.c.Do(req)
		if err != nil {
			b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
		}
		raw, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		res.Body.Close()
		v.status, v.body = res.StatusCode, string(raw)
		if res.StatusCode >= 300 && res.StatusCode < 400 {
			loc, err := req.URL.Parse(res.Header.Get("Location"))
			if err != nil {
				b.t.Fatalf("bad Location %q: %v", res.Header.Get("Location"), err)
			}
			if loc.Scheme+"://"+loc.Host != origin && v.redirect == nil {
				v.redirect = loc
				if !follow {
					return v
				}
			}
			req, _ = http.NewRequest("GET", loc.String(), nil)
			continue
		}
		if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Content-Type"), "html") {
			return v
		}
		f := pickForm(parseForms(string(raw)))
		switch {
		case f == nil:
			return v
		case f.has("password"):
			if v.logins++; v.logins > 3 {
				b.t.Fatalf("login refused three times: %s", raw)
			}
			f.values.Set("username", b.user)
			f.values.Set("password", b.pass)
		case f.has("otp"):
			if b.otp == nil {
				b.t.Fatalf("a second step asked for a code: %.300s", raw)
			}
			if v.codes++; v.codes > 3 {
				return v // refused three times: the caller sees the page
			}
			f.values.Set("otp", b.otp())
		case f.buttons["consent"]:
			v.consents++
			f.values.Set("consent", b.consent)
		}
		req = f.request(b.t, req.URL, req.URL.Scheme+"://"+req.URL.Host)
	}
	b.t.Fatalf("more than 30 steps from %s", u)
	return nil
}

// form is one HTML form: where it goes and what it sends.
type form struct {
	method, action string
	values         url.Values
	inputs         map[string]bool
	buttons        map[string]bool // submit buttons' names
}

func (f *form) has(name string) bool { return f.inputs[name] }

func (f *form) request(t testing.TB, page *url.URL, origin string) *http.Request {
	t.Helper()
	action, err := page.Parse(f.action)
	if err != nil {
		t.Fatalf("form action %q: %v", f.action, err)
	}
	var req *http.Request
	if strings.EqualFold(f.method, "post") {
		req, _ = http.NewRequest("POST", action.String(), strings.NewReader(f.values.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", origin) // as a browser sends with a form post
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	} else {
		action.RawQuery = f.values.Encode()
		req, _ = http.NewRequest("GET", action.String(), nil)
	}
	return req
}

// pickForm is the login form (a password input), its second step (an otp
// input) or the consent form (a button named consent), whichever the page
// has.
func pickForm(forms []*form) *form {
	for _, f := range forms {
		if f.has("password") || f.has("otp") || f.buttons["consent"] {
			return f
		}
	}
	return nil
}

// parseForms reads every form of a page with its fields' initial values.
func parseForms(page string) []*form {
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		return nil
	}
	var forms []*form
	var walk func(n *html.Node, f *form)
	walk = func(n *html.Node, f *form) {
		if n.Type == html.ElementNode {
			attr := map[string]string{}
			checked := false
			for _, a := range n.Attr {
				attr[a.Key] = a.Val
				if a.Key == "checked" {
					checked = true
				}
			}
			switch n.Data {
			case "form":
				f = &form{method: attr["method"], action: attr["action"], values: url.Values{}, inputs: map[string]bool{}, buttons: map[string]bool{}}
				if f.method == "" {
					f.method = "get"
				}
				forms = append(forms, f)
			case "input":
				if f != nil && attr["name"] != "" {
					switch strings.ToLower(attr["type"]) {
					case "submit", "button", "image":
						f.buttons[attr["name"]] = true
					case "checkbox", "radio":
						f.inputs[attr["name"]] = true
						if checked {
							f.values.Add(attr["name"], valueOr(attr["value"], "on"))
						}
					default:
						f.inputs[attr["name"]] = true
						f.values.Set(attr["name"], attr["value"])
					}
				}
			case "button":
				if f != nil && attr["name"] != "" {
					f.buttons[attr["name"]] = true
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, f)
		}
	}
	walk(doc, nil)
	return forms
}

func valueOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// tokenCall is one token-endpoint request. auth: "basic" (RFC 6749
// §2.3.1, form-encoded then base64), "post" (client_secret_post) or
// "none" (a public client: client_id in the body).
func (s *oauthServer) tokenCall(t testing.TB, path string, c *oclient, auth string, form url.Values) (int, map[string]any, http.Header) {
	t.Helper()
	form = cloneValues(form)
	req, _ := http.NewRequest("POST", s.base+path, nil)
	switch auth {
	case "basic":
		req.SetBasicAuth(url.QueryEscape(c.id), url.QueryEscape(c.secret))
	case "post":
		form.Set("client_id", c.id)
		form.Set("client_secret", c.secret)
	case "none":
		form.Set("client_id", c.id)
	}
	req.Body = io.NopCloser(strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return doJSON(t, req)
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func doJSON(t testing.TB, req *http.Request) (int, map[string]any, http.Header) {
	t.Helper()
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	m := map[string]any{}
	if len(raw) > 0 && json.Unmarshal(raw, &m) != nil {
		m = map[string]any{"_raw": string(raw)}
	}
	return res.StatusCode, m, res.Header
}

// exchange redeems the code a visit brought back.
func (s *oauthServer) exchange(t testing.TB, c *oclient, auth string, a *authReq, code string) (int, map[string]any) {
	t.Helper()
	st, m, _ := s.tokenCall(t, "/token", c, auth, url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {a.params.Get("redirect_uri")},
		"code_verifier": {a.verifier},
	})
	return st, m
}

// codeFlow runs a whole code+PKCE flow in b and returns the token
// response; it fails the test at any step that goes wrong.
func (s *oauthServer) codeFlow(t testing.TB, b *browser, c *oclient, auth, scope string, extra url.Values) (map[string]any, *authReq, *visit) {
	t.Helper()
	a := newAuthReq(c, c.redirect, scope, extra)
	v := b.run(s.authorizeURL(a), false)
	code := s.codeOf(t, a, v)
	st, tok := s.exchange(t, c, auth, a, code)
	if st != 200 {
		t.Fatalf("code exchange: %d %v", st, tok)
	}
	return tok, a, v
}

// codeOf checks the authorization response (state, RFC 9207 iss) and
// returns its code.
func (s *oauthServer) codeOf(t testing.TB, a *authReq, v *visit) string {
	t.Helper()
	if v.redirect == nil {
		t.Fatalf("no redirect to the client: %d %.600s", v.status, v.body)
	}
	q := v.redirect.Query()
	if q.Get("error") != "" || q.Get("code") == "" {
		t.Fatalf("authorization response %s", v.redirect)
	}
	if got := q.Get("state"); got != a.params.Get("state") {
		t.Fatalf("state %q, sent %q", got, a.params.Get("state"))
	}
	if got := q.Get("iss"); got != s.base {
		t.Fatalf("iss %q in the authorization response, want %q", got, s.base)
	}
	return q.Get("code")
}

// claims decodes a JWT's payload (the signature is checked elsewhere,
// by go-oidc).
func claims(t testing.TB, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS compact token: %q", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	m := map[string]any{}
	if err != nil || json.Unmarshal(raw, &m) != nil {
		t.Fatalf("token payload %q: %v", parts[1], err)
	}
	return m
}

// header decodes a JWT's header.
func header(t testing.TB, tok string) map[string]any {
	t.Helper()
	h, _, _ := strings.Cut(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(h)
	m := map[string]any{}
	if err != nil || json.Unmarshal(raw, &m) != nil {
		t.Fatalf("token header %q: %v", h, err)
	}
	return m
}

// userinfo calls /userinfo with an access token in the header (GET) or
// in the body (POST).
func (s *oauthServer) userinfo(t testing.TB, method, at string) (int, map[string]any, http.Header) {
	t.Helper()
	var req *http.Request
	if method == "POST" {
		req, _ = http.NewRequest("POST", s.base+"/userinfo", strings.NewReader(url.Values{"access_token": {at}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req, _ = http.NewRequest("GET", s.base+"/userinfo", nil)
		req.Header.Set("Authorization", "Bearer "+at)
	}
	return doJSON(t, req)
}

// introspect asks whether a token is live, as client c.
func (s *oauthServer) introspect(t testing.TB, c *oclient, tok string) bool {
	t.Helper()
	st, m, _ := s.tokenCall(t, "/introspect", c, "basic", url.Values{"token": {tok}})
	if st != 200 {
		t.Fatalf("introspect: %d %v", st, m)
	}
	active, ok := m["active"].(bool)
	if !ok {
		t.Fatalf("introspect: no boolean active: %v", m)
	}
	return active
}

// discovery fetches a discovery document.
func (s *oauthServer) discovery(t testing.TB, path string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest("GET", s.base+path, nil)
	st, m, _ := doJSON(t, req)
	if st != 200 {
		t.Fatalf("GET %s: %d %v", path, st, m)
	}
	return m
}

// ctxT is a context bounded to the test.
func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

func mustf(t testing.TB, ok bool, format string, args ...any) {
	t.Helper()
	if !ok {
		t.Errorf(format, args...)
	}
}
