// Command guarded is a small service that protects its own routes with
// Gatehouse's guard package, and checks the tokens' scopes itself:
//
//	gatehouse serve &                        # issues RS256 tokens on :8000
//	KEY=$(gatehouse apikey create --user admin --name guarded --scopes read:revocations)
//	GATEHOUSE_STREAM_KEY=$KEY go run ./examples/guarded -jwks http://127.0.0.1:8000 &
//	TOKEN=$(curl -s localhost:8000/token -d username=alice -d password=… -d scope=read:items | jq -r .access_token)
//	curl -H "Authorization: Bearer $TOKEN" localhost:8081/items           # 200
//	curl -H "Authorization: Bearer $TOKEN" -X POST localhost:8081/items   # 403 insufficient_scope
//
// Three ways to trust Gatehouse, from the recommended one:
//
// -jwks ISSUER (GATEHOUSE_PUBLIC_URL): tokens are verified here, from the
// public keys Gatehouse publishes at /.well-known/jwks.json — no call to
// Gatehouse per request, and no secret that could mint tokens. With an
// API key holding read:revocations in GATEHOUSE_STREAM_KEY, the service
// also follows Gatehouse's revocation stream, so a logout, a disabled or
// deleted user and a demotion are refused here within milliseconds; it
// refuses every token (503) once the stream has been down for a minute,
// rather than miss logouts (-fail-open keeps accepting them). Without the
// key, a logout takes effect here only when the token expires.
//
// -gatehouse URL: guard's Remote asks Gatehouse's /auth/verify about each
// request (one round trip, answered from memory): logouts are refused at
// once, API keys work too, and the user's name and role are known. A
// reverse proxy can do the same for a service in any language (forward
// auth, see the README).
//
// Neither: the service shares Gatehouse's HS256 secret
// (GATEHOUSE_SECRET_KEY) and verifies HS256 tokens with it — only for
// deployments still on HS256; whoever holds the secret can mint tokens,
// and a logout takes effect here only when the token expires.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/guard"
	"github.com/gatehouse/gatehouse/httperror"
	"github.com/gatehouse/gatehouse/token"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "listen address")
	remoteURL := flag.String("gatehouse", "", "ask this Gatehouse server (its /auth/verify) about each request, instead of verifying tokens here")
	issuer := flag.String("jwks", "", "verify tokens here from the public keys of the Gatehouse whose GATEHOUSE_PUBLIC_URL this is")
	failOpen := flag.Bool("fail-open", false, "-jwks: keep accepting tokens while the revocation stream is down")
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	var g *guard.Guard
	if *issuer != "" {
		g = jwksGuard(*issuer, os.Getenv("GATEHOUSE_STREAM_KEY"), *failOpen, log)
	} else if *remoteURL != "" {
		remote, err := guard.NewRemote(*remoteURL, nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, "guarded:", err)
			os.Exit(2)
		}
		g = guard.New(remote, remote, log) // tokens and API keys
	} else {
		g = localGuard(log)
	}
	serve(*addr, g, log)
}

// jwksGuard verifies Gatehouse's access tokens in this process from its
// published keys and, given a stream key, follows its revocations.
func jwksGuard(issuer, streamKey string, failOpen bool, log *slog.Logger) *guard.Guard {
	opts := guard.JWKSOptions{Audience: "gatehouse", Logger: log}
	if streamKey != "" {
		ro := guard.RevocationsOptions{APIKey: streamKey, Logger: log}
		if failOpen {
			ro.MaxStale = -1
		}
		rv, err := guard.NewRevocations(issuer, ro)
		if err != nil {
			fmt.Fprintln(os.Stderr, "guarded:", err)
			os.Exit(2)
		}
		go rv.Run(context.Background())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := rv.WaitSynced(ctx); err != nil {
			log.Warn("revocation stream not caught up yet: tokens get 503 until it is", "err", err)
		}
		opts.Revocations = rv
	} else {
		log.Warn("no GATEHOUSE_STREAM_KEY: a logout reaches this service only when the token expires")
	}
	v, err := guard.NewJWKS(issuer, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "guarded:", err)
		os.Exit(2)
	}
	if err := v.Refresh(context.Background()); err != nil {
		log.Warn("key set not fetched yet: retried at the first request", "err", err)
	}
	return guard.New(v, nil, log) // tokens only: API keys need Gatehouse (-gatehouse)
}

// localGuard verifies Gatehouse's HS256 access tokens in this process,
// with the signing key it shares with the Gatehouse server.
func localGuard(log *slog.Logger) *guard.Guard {
	secret := []byte(os.Getenv("GATEHOUSE_SECRET_KEY"))
	if len(secret) < 32 {
		fmt.Fprintln(os.Stderr, "guarded: GATEHOUSE_SECRET_KEY must be the Gatehouse server's signing key (≥ 32 bytes)")
		os.Exit(2)
	}
	// Gatehouse names its keys as token.KeysFromSecrets does; its tokens'
	// iss is its GATEHOUSE_PUBLIC_URL, and their aud "gatehouse".
	iss := os.Getenv("GATEHOUSE_PUBLIC_URL")
	if iss == "" {
		iss = "http://127.0.0.1:8000"
	}
	tokens, err := token.NewManager(token.Config{
		Keys:   token.KeysFromSecrets(secret, nil),
		Issuer: iss, Audience: "gatehouse", Leeway: auth.Leeway,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "guarded:", err)
		os.Exit(2)
	}
	return guard.New(verifier{tokens}, nil, log) // nil: no API keys here
}

// serve is the service's own routes, guarded by g.
func serve(addr string, g *guard.Guard, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		httperror.JSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.Handle("GET /whoami", g.Require()(http.HandlerFunc(whoami)))
	mux.Handle("GET /items", g.Require(guard.Scopes(gatehouse.ScopeReadItems))(http.HandlerFunc(listItems)))
	mux.Handle("POST /items", g.Require(guard.Scopes(gatehouse.ScopeWriteItems))(http.HandlerFunc(createItem)))

	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second}
	log.Info("listening", "addr", addr)
	if err := srv.ListenAndServe(); err != nil {
		log.Error("serve", "err", err)
		os.Exit(1)
	}
}

// verifier turns a Gatehouse access token into a principal. The user is
// known only by id: the token carries no role.
type verifier struct{ m *token.Manager }

var errBadToken = &gatehouse.Error{Code: gatehouse.EUNAUTHENTICATED, OAuth: "invalid_token", Message: "Could not validate credentials"}

func (v verifier) Authenticate(_ context.Context, bearer string) (*gatehouse.Principal, error) {
	c, err := v.m.Verify(bearer)
	if err != nil {
		return nil, errBadToken
	}
	id, err := strconv.ParseInt(c.Subject, 10, 64)
	if err != nil {
		return nil, errBadToken
	}
	return &gatehouse.Principal{User: &gatehouse.User{ID: id}, Scope: c.Scope, TokenID: c.ID,
		SessionID: c.SessionID, ExpiresAt: time.Unix(c.ExpiresAt, 0)}, nil
}

func whoami(w http.ResponseWriter, r *http.Request) {
	p, _ := gatehouse.PrincipalFrom(r.Context())
	// The username is known when Gatehouse answered (-gatehouse); a token
	// verified here carries only the user's id.
	httperror.JSON(w, http.StatusOK, map[string]any{"user_id": p.User.ID, "username": p.User.Username, "scope": p.Scope})
}

func listItems(w http.ResponseWriter, r *http.Request) {
	httperror.JSON(w, http.StatusOK, map[string]any{"items": []string{"kept by this service"}})
}

func createItem(w http.ResponseWriter, r *http.Request) {
	p, _ := gatehouse.PrincipalFrom(r.Context())
	httperror.JSON(w, http.StatusOK, map[string]any{"message": fmt.Sprintf("item stored for user %d", p.User.ID)})
}
