package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/httpapi"
	"github.com/gatehouse/gatehouse/httpsec"
	"github.com/gatehouse/gatehouse/ratelimit"
	"github.com/gatehouse/gatehouse/redis"
	"github.com/gatehouse/gatehouse/revstream"
	goredis "github.com/redis/go-redis/v9"
)

// serveConfig is the validated configuration of `gatehouse serve`.
type serveConfig struct {
	store                 storeConfig
	addr                  string
	redisURL, redisPrefix string
	adminUser, adminPass  string
	security              *httpsec.Layer // trusted hosts, CORS, HTTPS redirect and proxies
	proxies               *httpsec.Proxies
	loginRateLimit        ratelimit.Limit
	refreshRateLimit      ratelimit.Limit
	routeLimits           map[string]ratelimit.Limit
	tlsCert, tlsKey       string
	logLevel              string
	auditRetention        time.Duration
	redirects             *httpsec.Redirects // the public URL and where a login may return to
	cookieDomain          string
	defaultIssuer         bool   // GATEHOUSE_PUBLIC_URL was not set
	passkeysOff           string // why passkeys are unavailable, when they are
}

// shutdownTimeout is how long serve lets in-flight requests finish once
// asked to stop, before it closes their connections.
const shutdownTimeout = 30 * time.Second

func parseServe(args []string, stderr io.Writer) (serveConfig, error) {
	s := newSettings("serve", "Run the Gatehouse server.")
	s.fs.SetOutput(stderr)
	sf := addStoreFlags(s)
	kf := addSigningFlags(s)
	addr := s.add("addr", "GATEHOUSE_ADDR", "127.0.0.1:8000", "listen address")
	publicURL := s.add("public-url", "GATEHOUSE_PUBLIC_URL", "",
		"the issuer: the exact iss of every token and the base of the URLs Gatehouse hands out, no trailing slash; empty: http://GATEHOUSE_ADDR")
	redisURL := s.add("redis-url", "GATEHOUSE_REDIS_URL", "", "redis://… to share revocations, rate limits and invalidations between instances")
	redisPrefix := s.add("redis-prefix", "GATEHOUSE_REDIS_PREFIX", "gatehouse:", "prefix of every Redis key and channel (instances sharing one prefix are one cluster)")
	adminUser := s.add("admin-username", "GATEHOUSE_ADMIN_USERNAME", "admin", "first admin, created when the database has no user")
	adminPass := s.add("admin-password", "GATEHOUSE_ADMIN_PASSWORD", "", "first admin's password; empty: generated and printed once")
	cors := s.add("cors-origins", "GATEHOUSE_CORS_ORIGINS", "", "comma-separated allowed CORS origins; empty: no CORS headers")
	hosts := s.add("trusted-hosts", "GATEHOUSE_TRUSTED_HOSTS", "*", "comma-separated allowed Host names (*.example.com allowed)")
	proxies := s.add("trusted-proxies", "GATEHOUSE_TRUSTED_PROXIES", "", "comma-separated CIDRs whose X-Forwarded-For/-Proto are believed")
	redirect := s.add("https-redirect", "GATEHOUSE_HTTPS_REDIRECT", "false", "redirect plain-HTTP GET/HEAD to https, refuse other methods")
	routeLimits := s.add("rate-limits", "GATEHOUSE_RATE_LIMITS", "",
		`per-client limits of routes, "GET /items=100/minute,POST /comments=10/minute" (GET /limited is 5/minute unless set)`)
	loginLimit := s.add("login-rate-limit", "GATEHOUSE_LOGIN_RATE_LIMIT", "10/minute",
		"login attempts per client IP, and failed ones per username (an address that logged in as the user within 30 days is exempt from the latter)")
	refreshLimit := s.add("refresh-rate-limit", "GATEHOUSE_REFRESH_RATE_LIMIT", "60/minute",
		"token refreshes per client IP (each login session may also refresh at most 10 times at once and 10 a minute)")
	cert := s.add("tls-cert", "GATEHOUSE_TLS_CERT", "", "PEM certificate file: serve HTTPS directly")
	key := s.add("tls-key", "GATEHOUSE_TLS_KEY", "", "PEM private key file for --tls-cert")
	level := s.add("log-level", "GATEHOUSE_LOG_LEVEL", "info", "debug, info, warn or error")
	retention := s.add("audit-retention", "GATEHOUSE_AUDIT_RETENTION", "2160h", "how long audit events are kept (purged hourly)")
	cookieDomain := s.add("cookie-domain", "GATEHOUSE_COOKIE_DOMAIN", "", "the session cookie's domain, for single sign-on across its subdomains; empty: the public URL's host only")
	redirectDomains := s.add("redirect-domains", "GATEHOUSE_REDIRECT_DOMAINS", "",
		"comma-separated hosts a login may return to besides the public URL's (*.example.com allowed)")
	rpID := s.add("webauthn-rp-id", "GATEHOUSE_WEBAUTHN_RP_ID", "",
		"passkeys' relying party id: a host name, the origins' host or a parent domain of it; empty: the public URL's host")
	hashNice := s.add("hash-nice", "GATEHOUSE_HASH_NICE", "10",
		"OS priority (nice, 1 to 19) of the password-hashing worker processes, below the server's so that a login flood cannot starve token verification; 0: hash in the server's own process")
	rpOrigins := s.add("webauthn-origins", "GATEHOUSE_WEBAUTHN_ORIGINS", "",
		"comma-separated origins passkey ceremonies may come from; empty: the public URL's origin")
	if err := s.fs.Parse(args); err != nil {
		return serveConfig{}, err
	}
	if s.fs.NArg() > 0 {
		return serveConfig{}, bad("arguments", "serve takes no arguments (got %q)", s.fs.Args())
	}
	var c serveConfig
	var err error
	if c.store, err = sf.parse(); err != nil {
		return c, err
	}
	c.addr, c.redisURL, c.redisPrefix, c.adminUser, c.adminPass = *addr, *redisURL, *redisPrefix, *adminUser, *adminPass
	if err := validateAddr("GATEHOUSE_ADDR", c.addr); err != nil {
		return c, err
	}
	if c.redisURL != "" {
		if err := checkRedisURL(c.redisURL); err != nil {
			return c, err
		}
	}
	trustedHosts := splitList(*hosts)
	if len(trustedHosts) == 0 {
		return c, bad("GATEHOUSE_TRUSTED_HOSTS", "must not be empty (use * to allow every host)")
	}
	if c.proxies, err = httpsec.ParseProxies(splitList(*proxies)); err != nil {
		return c, bad("GATEHOUSE_TRUSTED_PROXIES", "%v", err)
	}
	httpsRedirect, err := parseBool("GATEHOUSE_HTTPS_REDIRECT", *redirect)
	if err != nil {
		return c, err
	}
	if c.security, err = httpsec.New(httpsec.Config{Proxies: c.proxies, TrustedHosts: trustedHosts,
		HTTPSRedirect: httpsRedirect, CORSOrigins: splitList(*cors)}); err != nil {
		env := "GATEHOUSE_TRUSTED_HOSTS"
		if ce := (*httpsec.ConfigError)(nil); errors.As(err, &ce) && ce.Field == "CORSOrigins" {
			env = "GATEHOUSE_CORS_ORIGINS"
		}
		return c, bad(env, "%v", err)
	}
	if c.routeLimits, err = parseRouteLimits(*routeLimits); err != nil {
		return c, err
	}
	if c.loginRateLimit, err = ratelimit.ParseLimit(*loginLimit); err != nil {
		return c, bad("GATEHOUSE_LOGIN_RATE_LIMIT", "%q is not N/period (e.g. 10/minute)", *loginLimit)
	}
	if c.refreshRateLimit, err = ratelimit.ParseLimit(*refreshLimit); err != nil {
		return c, bad("GATEHOUSE_REFRESH_RATE_LIMIT", "%q is not N/period (e.g. 60/minute)", *refreshLimit)
	}
	c.tlsCert, c.tlsKey = *cert, *key
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return c, bad("GATEHOUSE_TLS_CERT", "GATEHOUSE_TLS_CERT and GATEHOUSE_TLS_KEY go together")
	}
	if c.tlsCert != "" {
		if _, err := tls.LoadX509KeyPair(c.tlsCert, c.tlsKey); err != nil {
			return c, bad("GATEHOUSE_TLS_CERT", "cannot load the certificate and key: %v", err)
		}
	}
	if c.store.hashNice, err = strconv.Atoi(*hashNice); err != nil || c.store.hashNice < 0 || c.store.hashNice > 19 {
		return c, bad("GATEHOUSE_HASH_NICE", "%q is not a number from 0 to 19", *hashNice)
	}
	if err := kf.parse(&c.store); err != nil {
		return c, err
	}
	if c.store.signing.issuer, err = parsePublicURL(*publicURL, c.addr, c.tlsCert != ""); err != nil {
		return c, err
	}
	c.store.signing.load = true
	c.defaultIssuer = *publicURL == ""
	c.logLevel = *level
	if _, err := parseLevel(c.logLevel); err != nil {
		return c, err
	}
	if c.auditRetention, err = parseDuration("GATEHOUSE_AUDIT_RETENTION", *retention); err != nil {
		return c, err
	}
	if c.redirects, c.cookieDomain, err = parseBrowser(c.store.signing.issuer, *cookieDomain, *redirectDomains); err != nil {
		return c, err
	}
	if c.store.passkeys, c.passkeysOff, err = parseWebAuthn(c.store.signing.issuer, *rpID, *rpOrigins); err != nil {
		return c, err
	}
	return c, nil
}

// checkRedisURL validates GATEHOUSE_REDIS_URL with the parser
// redis.NewClient uses, without building a client. The parser's error is
// not shown: it can quote the URL, password included. unix:// parses too,
// but serve takes redis:// and rediss:// only.
func checkRedisURL(v string) error {
	if opt, err := goredis.ParseURL(v); err != nil || opt.Network != "tcp" {
		return bad("GATEHOUSE_REDIS_URL", "want a redis:// or rediss:// URL")
	}
	return nil
}

func parseLevel(v string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(v)); err != nil {
		return 0, bad("GATEHOUSE_LOG_LEVEL", "%q is not debug, info, warn or error", v)
	}
	return l, nil
}

func newLogger(w io.Writer, level string) *slog.Logger {
	l, _ := parseLevel(level)
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseServe(args, stderr)
	if err != nil {
		return err
	}
	startProfiler() // -tags pprof only
	log := slog.New(httpapi.LogHandler{Handler: newLogger(stderr, c.logLevel).Handler()})
	// The revocation stream's hub hears of this instance's changes through
	// the broadcaster (and of other instances' through the bus's sink); it
	// needs the store, so it is made after openApp, and kicked from then on.
	kick := &hubKick{}
	var (
		cl        = cluster{bcast: kickBroadcaster{kick: kick.Kick}}
		bus       *redis.Bus
		rateStore ratelimit.Store     = ratelimit.NewMemoryStore(100_000)
		marks     ratelimit.MarkStore = ratelimit.NewMemoryMarks(100_000)
		ready     func(context.Context) error
	)
	if c.redisURL != "" {
		rc, err := redis.NewClient(c.redisURL)
		if err != nil {
			return bad("GATEHOUSE_REDIS_URL", "%v", err)
		}
		defer rc.Close()
		bus = redis.NewBus(rc, c.redisPrefix, log)
		redisDown := func(err error) {
			log.Warn("redis unavailable: rate limits are per instance until it is back", "err", err)
		}
		codes := redis.NewCodeLimiter(rc, c.redisPrefix, auth.MaxCodeFailures, auth.CodeFailureWindow,
			auth.NewMemoryCodeLimiter(auth.MaxCodeFailures, auth.CodeFailureWindow, time.Now))
		codes.Breaker.OnError = redisDown
		cl = cluster{bcast: kickBroadcaster{next: bus, kick: kick.Kick}, codes: codes}
		rateStore = &ratelimit.FallbackStore{Primary: redis.NewRateStore(rc, c.redisPrefix), Local: rateStore,
			Breaker: ratelimit.Breaker{Cooldown: time.Second, OnError: redisDown}}
		marks = &ratelimit.FallbackMarks{Primary: redis.NewMarkStore(rc, c.redisPrefix), Local: marks,
			Breaker: &ratelimit.Breaker{Cooldown: time.Second, OnError: redisDown}}
		ready = bus.Ping
	}
	c.store.sealing = sealStrict
	a, err := openApp(ctx, c.store, log, cl)
	if err != nil {
		return err
	}
	defer a.Close()

	if c.passkeysOff != "" {
		log.Warn(c.passkeysOff)
	}
	if c.defaultIssuer && c.store.db.driver == "postgres" {
		log.Warn("GATEHOUSE_PUBLIC_URL is not set: tokens are issued for " + c.store.signing.issuer +
			"; instances behind one name must share one GATEHOUSE_PUBLIC_URL, or they refuse each other's tokens")
	}
	if a.sealing.legacy {
		log.Warn("TOTP secrets sealed before this version may still be under a key derived from a signing key; " +
			"run `gatehouse reseal` once to move them to the encryption key (README: Rotating the encryption key)")
	}
	admin, generated, err := a.auth.EnsureAdmin(ctx, c.adminUser, c.adminPass)
	if err != nil {
		return bad("GATEHOUSE_ADMIN_PASSWORD", "%v", err)
	}
	if admin != nil {
		log.Info("created the first admin", "username", admin.Username)
		if generated != "" {
			// Printed once, to the terminal and not through the structured
			// log, so log shipping never carries it.
			fmt.Fprintf(stderr, "\n  First admin %q created with the generated password:\n\n    %s\n\n  It is shown only this once.\n\n", admin.Username, generated)
		}
	}
	if err := a.auth.Resync(ctx); err != nil {
		return err
	}
	// Loading the revocations left garbage of about their size (the rows
	// read); hand it back now rather than carrying it as resident memory
	// until the runtime's scavenger gets to it.
	debug.FreeOSMemory()
	if err := a.auth.LoadSessionKey(ctx); err != nil {
		return err
	}

	hub, err := revstream.New(revstream.Config{Source: a.store, Lifetime: c.store.accessTTL + auth.Leeway, Logger: log})
	if err != nil {
		return err
	}
	if err := hub.Load(ctx); err != nil {
		return err
	}
	kick.set(hub)

	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return bad("GATEHOUSE_ADDR", "%v", err)
	}
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBG()
	if bus != nil {
		go bus.Run(bg, kickSink{Sink: a.auth, kick: kick.Kick})
		if err := bus.Ping(ctx); err != nil {
			log.Warn("redis unavailable at start: serving degraded until it answers", "err", err)
		}
	}
	api, err := httpapi.New(httpapi.Config{Auth: a.auth, Store: a.store, Logger: log, Security: c.security,
		Proxies: c.proxies, Metrics: a.metrics, Auditor: a.audit, LoginLimit: c.loginRateLimit, RefreshLimit: c.refreshRateLimit,
		RouteLimits: c.routeLimits, RateStore: rateStore, DeviceMarks: marks, LoginKey: a.sealing.loginKey, Ready: ready,
		JWKS: a.keys.Handler(), Revocations: hub, Redirects: c.redirects, CookieDomain: c.cookieDomain,
		IDTokenAlgs: idTokenAlgs(c.store.signing.alg)})
	if err != nil {
		return bad("GATEHOUSE_RATE_LIMITS", "%v", err) // a route limit naming no route
	}
	srv := newHTTPServer(ctx, api, log)
	srv.RegisterOnShutdown(hub.Close) // streams never finish by themselves: end them, clients reconnect elsewhere
	go hub.Run(bg)
	go a.keys.Run(bg) // reloads the signing keys every 10 s: rotations reach every instance without a restart
	go a.auth.RunPurger(bg, time.Minute)
	go a.auth.RunWatcher(bg, 500*time.Millisecond)
	go a.auth.RunKeyFlusher(bg)
	go a.auth.RunSessionFlusher(bg)
	go runAuditPurger(bg, a.store, c.auditRetention, log)

	errc := make(chan error, 1)
	scheme := "http"
	if c.tlsCert != "" {
		scheme = "https"
	}
	log.Info("listening", "addr", ln.Addr().String(), "scheme", scheme, "version", version,
		"issuer", c.store.signing.issuer, "signing_alg", c.store.signing.alg)
	go func() {
		if c.tlsCert != "" {
			errc <- srv.ServeTLS(ln, c.tlsCert, c.tlsKey)
			return
		}
		errc <- srv.Serve(ln)
	}()
	fmt.Fprintf(stdout, "gatehouse %s listening on %s\n", version, ln.Addr())

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		// Requests still running are cut off; what was acknowledged is
		// stored, and the buffered key uses are still worth writing.
		log.Warn("shutdown timed out: closing the remaining connections", "err", err)
		srv.Close()
	}
	fctx, fcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer fcancel()
	if err := a.auth.FlushKeyUses(fctx); err != nil {
		log.Warn("api key last-use times not stored", "err", err)
	}
	if err := a.auth.FlushSessionUses(fctx); err != nil {
		log.Warn("session last-use times not stored", "err", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("stopped")
	return nil
}

// newHTTPServer is the server serve runs, with the limits that keep a slow
// or hostile client from holding it (contract §2: a client that stalls
// while sending headers or a body is cut off within 30 s).
func newHTTPServer(ctx context.Context, h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second, // slowloris: headers must arrive quickly
		ReadTimeout:       30 * time.Second, // the whole request, body included
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
}

// parseRouteLimits reads "METHOD /path=N/period" entries separated by commas.
func parseRouteLimits(v string) (map[string]ratelimit.Limit, error) {
	const env = "GATEHOUSE_RATE_LIMITS"
	out := map[string]ratelimit.Limit{}
	for _, entry := range splitList(v) {
		i := strings.LastIndex(entry, "=")
		if i < 0 {
			return nil, bad(env, "%q is not ROUTE=N/period", entry)
		}
		route, limit := strings.TrimSpace(entry[:i]), strings.TrimSpace(entry[i+1:])
		if m, p, ok := strings.Cut(route, " "); !ok || m == "" || !strings.HasPrefix(p, "/") {
			return nil, bad(env, "%q is not a route such as \"GET /items\"", route)
		}
		l, err := ratelimit.ParseLimit(limit)
		if err != nil {
			return nil, bad(env, "%q is not N/period (e.g. 100/minute)", limit)
		}
		out[route] = l
	}
	return out, nil
}
