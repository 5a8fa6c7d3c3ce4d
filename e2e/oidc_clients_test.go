package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Relying parties nobody here wrote run the whole authorization code flow
// with PKCE against the built binary (issue 13 §5): go-oidc with
// golang.org/x/oauth2, Authlib (Debian's python3-authlib) and
// openid-client (npm). Each listens on a loopback port of its own, as a
// native or local web app does (RFC 8252 §7.3); the test's browser opens
// the URL it prints, signs in on Gatehouse's login page, allows the
// consent page and is sent back to the client, which redeems the code,
// checks the ID token, calls /userinfo and refreshes. A client that
// cannot be had here is skipped alone, loudly; .ci/run installs them.

func TestRealClientsCodeFlow(t *testing.T) {
	s := startOAuth(t)
	t.Run("go-oidc+x/oauth2", func(t *testing.T) {
		c := s.newClient(t, "go-rp", "--redirect-uri", loopbackRedir)
		sub := goRelyingParty(t, s, c)
		t.Logf("go-oidc + x/oauth2: signed in as sub %s", sub)
	})
	t.Run("go-oidc+x/oauth2 public client", func(t *testing.T) {
		c := s.newClient(t, "go-cli", "--public", "--redirect-uri", loopbackRedir)
		sub := goRelyingParty(t, s, c)
		t.Logf("go-oidc + x/oauth2, public client: signed in as sub %s", sub)
	})
	t.Run("python3-authlib", func(t *testing.T) {
		const python = "/usr/bin/python3" // Debian's, with python3-authlib; PATH may hold another
		if err := exec.Command(python, "-c", "import authlib, requests").Run(); err != nil {
			loudSkip(t, fmt.Sprintf("needs Debian's python3-authlib (apt-get install -y python3-authlib): %v", err))
		}
		c := s.newClient(t, "authlib-rp", "--redirect-uri", loopbackRedir)
		line := scriptRelyingParty(t, s, exec.Command(python, filepath.Join("interop", "authlib_rp.py"), s.base, c.id, c.secret))
		t.Logf("Authlib: %s", line)
	})
	t.Run("openid-client", func(t *testing.T) {
		dir := joseDir() // .ci/run installs openid-client beside jose
		if _, err := exec.LookPath("node"); err != nil {
			loudSkip(t, "needs node")
		}
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "openid-client", "package.json")); err != nil {
			loudSkip(t, fmt.Sprintf("needs openid-client in %s (npm install --prefix %s openid-client@6, as .ci/run does)", dir, dir))
		}
		src, err := os.ReadFile(filepath.Join("interop", "openid_client_rp.mjs"))
		if err != nil {
			t.Fatal(err)
		}
		script := filepath.Join(dir, "gatehouse-openid-client-rp.mjs") // beside node_modules, so that the import resolves
		if err := os.WriteFile(script, src, 0o644); err != nil {
			t.Fatal(err)
		}
		c := s.newClient(t, "openid-client-rp", "--redirect-uri", loopbackRedir)
		line := scriptRelyingParty(t, s, exec.Command("node", script, s.base, c.id, c.secret))
		t.Logf("openid-client: %s", line)
	})
}

// loudSkip skips a client that cannot be had, on stderr too, so that a
// CI log shows it.
func loudSkip(t *testing.T, why string) {
	t.Helper()
	fmt.Fprintf(os.Stderr, "e2e: SKIPPED %s: %s\n", t.Name(), why)
	t.Skip(why)
}

// scriptRelyingParty runs a client process that prints the authorization
// URL, then "ok …" or "fail …" once its callback was called.
func scriptRelyingParty(t *testing.T, s *oauthServer, cmd *exec.Cmd) string {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("client stderr: %s", stderr.String())
		}
	})
	lines := make(chan string, 2)
	go func() {
		defer close(done)
		defer cmd.Wait()
		r := bufio.NewReader(out)
		for {
			l, err := r.ReadString('\n')
			if l = strings.TrimSpace(l); l != "" {
				lines <- l
			}
			if err != nil {
				close(lines)
				return
			}
		}
	}()
	next := func(what string) string {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("client exited before %s: %s", what, stderr.String())
			}
			return l
		case <-time.After(30 * time.Second):
			t.Fatalf("no %s from the client within 30 s: %s", what, stderr.String())
		}
		return ""
	}
	authURL := next("authorization URL")
	if !strings.HasPrefix(authURL, s.base+"/") {
		t.Fatalf("client's first line is not an authorization URL of %s: %q", s.base, authURL)
	}
	v := newBrowser(t).run(authURL, true)
	result := next("result")
	if !strings.HasPrefix(result, "ok ") || v.status != 200 || v.logins != 1 || v.consents != 1 {
		t.Fatalf("client says %q; browser: %d after %d login and %d consent forms, %.300s", result, v.status, v.logins, v.consents, v.body)
	}
	return result
}

// goRelyingParty is a Go web app on go-oidc and x/oauth2, on a loopback
// listener; it returns the subject it signed in.
func goRelyingParty(t *testing.T, s *oauthServer, c *oclient) string {
	t.Helper()
	ctx := ctxT(t)
	provider, err := oidc.NewProvider(ctx, s.base)
	if err != nil {
		t.Fatalf("go-oidc discovery: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := provider.Endpoint()
	if c.secret == "" {
		endpoint.AuthStyle = oauth2.AuthStyleInParams // a public client: its client_id in the body, no secret
	}
	conf := &oauth2.Config{ClientID: c.id, ClientSecret: c.secret, Endpoint: endpoint,
		RedirectURL: fmt.Sprintf("http://%s/callback", ln.Addr()),
		Scopes:      []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess}}
	idv := provider.Verifier(&oidc.Config{ClientID: c.id})
	pkce, state, nonce := oauth2.GenerateVerifier(), randomToken(), randomToken()

	finish := func(r *http.Request) (string, error) {
		q := r.URL.Query()
		if q.Get("state") != state {
			return "", fmt.Errorf("state %q", q.Get("state"))
		}
		if q.Get("iss") != s.base {
			return "", fmt.Errorf("RFC 9207 iss %q", q.Get("iss"))
		}
		tok, err := conf.Exchange(r.Context(), q.Get("code"), oauth2.VerifierOption(pkce))
		if err != nil {
			return "", fmt.Errorf("exchange: %w", err)
		}
		raw, _ := tok.Extra("id_token").(string)
		idt, err := idv.Verify(r.Context(), raw)
		if err != nil {
			return "", fmt.Errorf("ID token: %w", err)
		}
		if idt.Nonce != nonce {
			return "", fmt.Errorf("nonce %q", idt.Nonce)
		}
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return "", fmt.Errorf("at_hash: %w", err)
		}
		info, err := provider.UserInfo(r.Context(), oauth2.StaticTokenSource(tok))
		if err != nil {
			return "", fmt.Errorf("userinfo: %w", err)
		}
		if info.Subject != idt.Subject {
			return "", fmt.Errorf("userinfo sub %q, ID token sub %q", info.Subject, idt.Subject)
		}
		if tok.RefreshToken == "" {
			return "", errors.New("no refresh token with offline_access")
		}
		// x/oauth2 refreshes an expired token by itself.
		old := *tok
		old.Expiry = time.Now().Add(-time.Minute)
		fresh, err := conf.TokenSource(r.Context(), &old).Token()
		if err != nil || fresh.AccessToken == tok.AccessToken || fresh.RefreshToken == tok.RefreshToken {
			return "", fmt.Errorf("refresh: %v (new access token: %v)", err, fresh != nil && fresh.AccessToken != tok.AccessToken)
		}
		return idt.Subject, nil
	}
	results := make(chan string, 1)
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sub, err := finish(r)
		if err != nil {
			http.Error(w, "fail "+err.Error(), http.StatusInternalServerError)
			results <- "fail " + err.Error()
			return
		}
		io.WriteString(w, "ok "+sub)
		results <- "ok " + sub
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })

	v := newBrowser(t).run(conf.AuthCodeURL(state, oauth2.S256ChallengeOption(pkce), oidc.Nonce(nonce)), true)
	var result string
	select {
	case result = <-results:
	case <-time.After(5 * time.Second):
		t.Fatalf("the callback was never called: browser at %d %.300s", v.status, v.body)
	}
	if !strings.HasPrefix(result, "ok ") || v.logins != 1 || v.consents != 1 {
		t.Fatalf("go-oidc + x/oauth2: %s; %d login and %d consent forms", result, v.logins, v.consents)
	}
	return strings.TrimPrefix(result, "ok ")
}
