package httpsec_test

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/httpsec"
)

// ok is the handler behind the layer in most tests.
func ok(w http.ResponseWriter, r *http.Request) {
	w.Write([]byte("ok"))
}

func wrap(t testing.TB, c httpsec.Config, h http.Handler) http.Handler {
	t.Helper()
	l, err := httpsec.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return l.Wrap(h)
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	c := httpsec.Config{
		TrustedHosts:  []string{"api.example.com"},
		HTTPSRedirect: true,
		CORSOrigins:   []string{"https://app.example.com"},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ok", ok)
	mux.HandleFunc("GET /fail", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	})
	mux.HandleFunc("GET /limited", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "60")
		httpsec.WriteError(w, http.StatusTooManyRequests, "Too many requests")
	})
	h := wrap(t, c, mux)

	tests := []struct {
		name       string
		method     string
		url        string
		tls        bool
		header     map[string]string
		wantStatus int
	}{
		{"200 from the handler", "GET", "https://api.example.com/ok", true, nil, 200},
		{"404 from the mux", "GET", "https://api.example.com/nope", true, nil, 404},
		{"405 from the mux", "POST", "https://api.example.com/ok", true, nil, 405},
		{"500 from the handler", "GET", "https://api.example.com/fail", true, nil, 500},
		{"429 from the handler", "GET", "https://api.example.com/limited", true, nil, 429},
		{"400 for a bad host", "GET", "https://evil.example.net/ok", true, nil, 400},
		{"308 to https", "GET", "http://api.example.com/ok", false, nil, 308},
		{"403 for POST over http", "POST", "http://api.example.com/ok", false, nil, 403},
		{"204 for a CORS preflight", "OPTIONS", "https://api.example.com/ok", true,
			map[string]string{"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"}, 204},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.url, nil)
			if !tt.tls {
				r.TLS = nil
			}
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			w := serve(h, r)
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d", w.Code, tt.wantStatus)
			}
			want := map[string]string{
				"X-Content-Type-Options":  "nosniff",
				"X-Frame-Options":         "DENY",
				"Referrer-Policy":         "no-referrer",
				"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
			}
			if tt.tls {
				want["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
			}
			for k, v := range want {
				if got := w.Header().Values(k); len(got) != 1 || got[0] != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if got := w.Header().Get("X-XSS-Protection"); got != "" && got != "0" {
				t.Errorf("X-XSS-Protection = %q, want absent or 0", got)
			}
		})
	}
}

func TestHSTSOnlyOverHTTPS(t *testing.T) {
	h := wrap(t, httpsec.Config{Proxies: mustProxies(t, "10.0.0.0/8")}, http.HandlerFunc(ok))
	tests := []struct {
		name   string
		remote string
		tls    bool
		xfp    string
		want   bool
	}{
		{"TLS connection", "203.0.113.7:1", true, "", true},
		{"plain HTTP", "203.0.113.7:1", false, "", false},
		{"X-Forwarded-Proto https from a trusted proxy", "10.0.0.1:1", false, "https", true},
		{"X-Forwarded-Proto https forged by a client", "203.0.113.7:1", false, "https", false},
		{"X-Forwarded-Proto http from a trusted proxy", "10.0.0.1:1", false, "http", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			if tt.xfp != "" {
				r.Header.Set("X-Forwarded-Proto", tt.xfp)
			}
			got := serve(h, r).Header().Get("Strict-Transport-Security") != ""
			if got != tt.want {
				t.Errorf("HSTS sent = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestHandlerHelpers(t *testing.T) {
	docsCSP := "default-src 'none'; script-src 'self'; style-src 'self'"
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    map[string]string
	}{
		{"SetCSP replaces the API policy for one response",
			func(w http.ResponseWriter, r *http.Request) { httpsec.SetCSP(w, docsCSP) },
			map[string]string{"Content-Security-Policy": docsCSP}},
		{"NoStore forbids caching",
			func(w http.ResponseWriter, r *http.Request) { httpsec.NoStore(w) },
			map[string]string{"Cache-Control": "no-store", "Pragma": "no-cache"}},
		{"responses are cacheable unless the handler says otherwise",
			func(w http.ResponseWriter, r *http.Request) {},
			map[string]string{"Cache-Control": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(wrap(t, httpsec.Config{}, tt.handler), httptest.NewRequest("GET", "/", nil))
			for k, v := range tt.want {
				if got := w.Header().Values(k); len(got) > 1 || w.Header().Get(k) != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestHeaderAddDoesNotCorruptNeighbour(t *testing.T) {
	h := wrap(t, httpsec.Config{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("X-Content-Type-Options", "extra")
	}))
	w := serve(h, httptest.NewRequest("GET", "/", nil))
	if got := w.Header().Values("X-Frame-Options"); len(got) != 1 || got[0] != "DENY" {
		t.Errorf("X-Frame-Options = %q after an Add on its neighbour", got)
	}
}

// The layer's header values are shared by every response; a handler that
// adds to one must get its own copy, or two responses would write into the
// same array.
func TestHeaderAddDoesNotLeakIntoOtherResponses(t *testing.T) {
	shared := []string{"X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy",
		"Content-Security-Policy", "Strict-Transport-Security", "Cache-Control", "Pragma"}
	h := wrap(t, httpsec.Config{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpsec.NoStore(w)
		for _, k := range shared {
			w.Header().Add(k, r.URL.Query().Get("v"))
		}
	}))
	first := serve(h, httptest.NewRequest("GET", "https://api.example.com/?v=first", nil))
	serve(h, httptest.NewRequest("GET", "https://api.example.com/?v=second", nil))
	for _, k := range shared {
		if got := first.Header().Values(k); len(got) != 2 || got[1] != "first" {
			t.Errorf("%s of the first response = %q after the second response added to it", k, got)
		}
	}
}

func TestWriteError(t *testing.T) {
	w := httptest.NewRecorder()
	httpsec.WriteError(w, http.StatusForbidden, `say "no"`)
	var body struct{ Detail string }
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q: %v", w.Body, err)
	}
	if w.Code != 403 || body.Detail != `say "no"` || w.Header().Get("Content-Type") != "application/json" {
		t.Errorf("got %d %q %q", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
}

func TestTrustedHosts(t *testing.T) {
	tests := []struct {
		name     string
		patterns []string
		host     string
		allowed  bool
	}{
		{"listed name", []string{"api.example.com"}, "api.example.com", true},
		{"port is ignored", []string{"api.example.com"}, "api.example.com:8443", true},
		{"case is ignored", []string{"api.example.com"}, "API.Example.COM", true},
		{"trailing dot is ignored", []string{"api.example.com"}, "api.example.com.", true},
		{"unlisted name", []string{"api.example.com"}, "evil.example.net", false},
		{"suffix without a dot is not a match", []string{"example.com"}, "evilexample.com", false},
		{"wildcard matches a subdomain", []string{"*.example.com"}, "a.example.com", true},
		{"wildcard matches a deeper subdomain", []string{"*.example.com"}, "a.b.example.com:80", true},
		{"wildcard does not match the apex", []string{"*.example.com"}, "example.com", false},
		{"wildcard does not match a lookalike", []string{"*.example.com"}, "a.example.com.evil.net", false},
		{"star alone allows all", []string{"*"}, "anything.test", true},
		{"no list allows all", nil, "anything.test", true},
		{"IPv4 literal", []string{"127.0.0.1"}, "127.0.0.1:8000", true},
		{"IPv6 literal", []string{"::1"}, "[::1]:8000", true},
		{"IPv6 pattern in brackets", []string{"[::1]"}, "[::1]", true},
		{"unbracketed IPv6 Host is malformed", []string{"::1"}, "::1", false},
		{"empty Host", []string{"api.example.com"}, "", false},
		{"one of several", []string{"a.test", "*.b.test", "c.test"}, "x.b.test", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := wrap(t, httpsec.Config{TrustedHosts: tt.patterns}, http.HandlerFunc(ok))
			r := httptest.NewRequest("GET", "/", nil)
			r.Host = tt.host
			w := serve(h, r)
			if got := w.Code == 200; got != tt.allowed {
				t.Fatalf("allowed = %v (status %d), want %v", got, w.Code, tt.allowed)
			}
			if !tt.allowed && w.Body.String() != `{"detail":"Invalid host header"}`+"\n" {
				t.Errorf("body = %q", w.Body)
			}
		})
	}
}

func TestHTTPSRedirect(t *testing.T) {
	c := httpsec.Config{HTTPSRedirect: true, Proxies: mustProxies(t, "10.0.0.0/8")}
	h := wrap(t, c, http.HandlerFunc(ok))
	tests := []struct {
		name         string
		method       string
		url          string
		remote       string
		xfp          string
		wantStatus   int
		wantLocation string
	}{
		{"GET goes to https with path and query", "GET", "http://api.example.com/a/b?x=1&y=%20", "203.0.113.7:1", "", 308, "https://api.example.com/a/b?x=1&y=%20"},
		{"HEAD goes to https", "HEAD", "http://api.example.com/", "203.0.113.7:1", "", 308, "https://api.example.com/"},
		{"the plain-HTTP port is dropped", "GET", "http://api.example.com:8000/x", "203.0.113.7:1", "", 308, "https://api.example.com/x"},
		{"IPv6 host keeps its brackets", "GET", "http://[2001:db8::1]:8000/x", "203.0.113.7:1", "", 308, "https://[2001:db8::1]/x"},
		{"POST is refused, not redirected", "POST", "http://api.example.com/token", "203.0.113.7:1", "", 403, ""},
		{"DELETE is refused", "DELETE", "http://api.example.com/users/1", "203.0.113.7:1", "", 403, ""},
		{"trusted proxy says https: served", "POST", "http://api.example.com/token", "10.0.0.1:1", "https", 200, ""},
		{"untrusted peer says https: still refused", "POST", "http://api.example.com/token", "203.0.113.7:1", "https", 403, ""},
		{"untrusted peer says https: still redirected", "GET", "http://api.example.com/", "203.0.113.7:1", "https", 308, "https://api.example.com/"},
		{"trusted proxy says http: redirected", "GET", "http://api.example.com/", "10.0.0.1:1", "http", 308, "https://api.example.com/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.url, nil)
			r.RemoteAddr = tt.remote
			if tt.xfp != "" {
				r.Header.Set("X-Forwarded-Proto", tt.xfp)
			}
			w := serve(h, r)
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d", w.Code, tt.wantStatus)
			}
			if got := w.Header().Get("Location"); got != tt.wantLocation {
				t.Errorf("Location = %q, want %q", got, tt.wantLocation)
			}
			if tt.wantStatus == 403 && w.Body.String() != `{"detail":"HTTPS required"}`+"\n" {
				t.Errorf("body = %q", w.Body)
			}
		})
	}
	t.Run("TLS connection is served", func(t *testing.T) {
		r := httptest.NewRequest("POST", "https://api.example.com/token", nil)
		if w := serve(h, r); w.Code != 200 {
			t.Errorf("status = %d, want 200", w.Code)
		}
	})
	t.Run("off by default", func(t *testing.T) {
		r := httptest.NewRequest("POST", "http://api.example.com/token", nil)
		if w := serve(wrap(t, httpsec.Config{}, http.HandlerFunc(ok)), r); w.Code != 200 {
			t.Errorf("status = %d, want 200", w.Code)
		}
	})
}

func TestCORS(t *testing.T) {
	const app = "https://app.example.com"
	tests := []struct {
		name        string
		config      httpsec.Config
		method      string
		header      map[string]string
		wantStatus  int
		wantOrigin  string // Access-Control-Allow-Origin
		wantCreds   string // Access-Control-Allow-Credentials
		wantMethods string // Access-Control-Allow-Methods
		wantVary    bool
		wantHandler bool
	}{
		{name: "listed origin is allowed",
			config: httpsec.Config{CORSOrigins: []string{app}}, method: "GET",
			header:     map[string]string{"Origin": app},
			wantStatus: 200, wantOrigin: app, wantVary: true, wantHandler: true},
		{name: "unlisted origin gets no CORS headers",
			config: httpsec.Config{CORSOrigins: []string{app}}, method: "GET",
			header:     map[string]string{"Origin": "https://evil.example.net"},
			wantStatus: 200, wantVary: true, wantHandler: true},
		{name: "null origin gets no CORS headers",
			config: httpsec.Config{CORSOrigins: []string{app}}, method: "GET",
			header:     map[string]string{"Origin": "null"},
			wantStatus: 200, wantVary: true, wantHandler: true},
		{name: "other scheme is another origin",
			config: httpsec.Config{CORSOrigins: []string{app}}, method: "GET",
			header:     map[string]string{"Origin": "http://app.example.com"},
			wantStatus: 200, wantVary: true, wantHandler: true},
		{name: "no origins configured: no CORS at all",
			config: httpsec.Config{}, method: "GET",
			header:     map[string]string{"Origin": app},
			wantStatus: 200, wantHandler: true},
		{name: "credentials echo the origin, never *",
			config: httpsec.Config{CORSOrigins: []string{app}, CORSCredentials: true}, method: "GET",
			header:     map[string]string{"Origin": app},
			wantStatus: 200, wantOrigin: app, wantCreds: "true", wantVary: true, wantHandler: true},
		{name: "preflight is answered without the handler",
			config: httpsec.Config{CORSOrigins: []string{app}}, method: "OPTIONS",
			header: map[string]string{"Origin": app, "Access-Control-Request-Method": "DELETE",
				"Access-Control-Request-Headers": "authorization,content-type"},
			wantStatus: 204, wantOrigin: app, wantMethods: "DELETE", wantVary: true},
		{name: "preflight from an unlisted origin is answered with nothing",
			config: httpsec.Config{CORSOrigins: []string{app}}, method: "OPTIONS",
			header:     map[string]string{"Origin": "https://evil.example.net", "Access-Control-Request-Method": "POST"},
			wantStatus: 204, wantVary: true},
		{name: "preflight for an unlisted header is answered with nothing",
			config: httpsec.Config{CORSOrigins: []string{app}}, method: "OPTIONS",
			header:     map[string]string{"Origin": app, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-evil"},
			wantStatus: 204, wantVary: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			called := false
			h := wrap(t, tt.config, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called = true }))
			r := httptest.NewRequest(tt.method, "https://api.example.com/items", nil)
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			w := serve(h, r)
			got := w.Header()
			if w.Code != tt.wantStatus || called != tt.wantHandler {
				t.Errorf("status = %d, handler called %v; want %d, %v", w.Code, called, tt.wantStatus, tt.wantHandler)
			}
			if v := got.Get("Access-Control-Allow-Origin"); v != tt.wantOrigin {
				t.Errorf("Allow-Origin = %q, want %q", v, tt.wantOrigin)
			}
			if v := got.Get("Access-Control-Allow-Credentials"); v != tt.wantCreds {
				t.Errorf("Allow-Credentials = %q, want %q", v, tt.wantCreds)
			}
			if v := got.Get("Access-Control-Allow-Methods"); v != tt.wantMethods {
				t.Errorf("Allow-Methods = %q, want %q", v, tt.wantMethods)
			}
			if v := got.Get("Vary"); (v != "") != tt.wantVary || (tt.wantVary && !strings.HasPrefix(v, "Origin")) {
				t.Errorf("Vary = %q, want Origin: %v", v, tt.wantVary)
			}
		})
	}
}

func TestNewRefusesUnsafeConfig(t *testing.T) {
	const origins, hosts = "CORSOrigins", "TrustedHosts"
	tests := []struct {
		name   string
		config httpsec.Config
		field  string // the field the *ConfigError names
	}{
		{"origin *", httpsec.Config{CORSOrigins: []string{"*"}}, origins},
		{"origin null", httpsec.Config{CORSOrigins: []string{"null"}}, origins},
		{"origin with a path", httpsec.Config{CORSOrigins: []string{"https://app.example.com/"}}, origins},
		{"origin with a query", httpsec.Config{CORSOrigins: []string{"https://app.example.com?x"}}, origins},
		{"origin without a scheme", httpsec.Config{CORSOrigins: []string{"app.example.com"}}, origins},
		{"origin with another scheme", httpsec.Config{CORSOrigins: []string{"ftp://app.example.com"}}, origins},
		{"origin with a wildcard", httpsec.Config{CORSOrigins: []string{"https://*.example.com"}}, origins},
		{"origin with user info", httpsec.Config{CORSOrigins: []string{"https://u@app.example.com"}}, origins},
		{"origin with the default port", httpsec.Config{CORSOrigins: []string{"https://app.example.com:443"}}, origins},
		{"host with a port", httpsec.Config{TrustedHosts: []string{"api.example.com:443"}}, hosts},
		{"host with a star inside", httpsec.Config{TrustedHosts: []string{"api.*.com"}}, hosts},
		{"host with a bare star prefix", httpsec.Config{TrustedHosts: []string{"*example.com"}}, hosts},
		{"host given as a URL", httpsec.Config{TrustedHosts: []string{"https://api.example.com"}}, hosts},
		{"star dot alone", httpsec.Config{TrustedHosts: []string{"*."}}, hosts},
		{"a good host list does not hide a bad origin",
			httpsec.Config{TrustedHosts: []string{"api.example.com"}, CORSOrigins: []string{"null"}}, origins},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := httpsec.New(tt.config)
			if err == nil {
				t.Fatal("New accepted it")
			}
			var ce *httpsec.ConfigError
			if !errors.As(err, &ce) || ce.Field != tt.field {
				t.Errorf("error %q (%T) does not name the field %s", err, err, tt.field)
			}
		})
	}
	t.Run("a good config is accepted", func(t *testing.T) {
		_, err := httpsec.New(httpsec.Config{
			CORSOrigins:  []string{"https://app.example.com", "http://localhost:3000", " "},
			TrustedHosts: []string{"api.example.com", "*.example.com", "localhost", "::1"},
		})
		if err != nil {
			t.Error(err)
		}
	})
}
