// Command guarded is a small service that protects its own routes with
// Gatehouse's guard package. It trusts the access tokens of a Gatehouse
// server that shares its signing key, and checks their scopes itself:
//
//	export GATEHOUSE_SECRET_KEY="$(head -c 48 /dev/urandom | base64)"
//	gatehouse serve &                        # issues tokens on :8000
//	go run ./examples/guarded &              # this service, on :8081
//	TOKEN=$(curl -s localhost:8000/token -d username=alice -d password=… -d scope=read:items | jq -r .access_token)
//	curl -H "Authorization: Bearer $TOKEN" localhost:8081/items           # 200
//	curl -H "Authorization: Bearer $TOKEN" -X POST localhost:8081/items   # 403 insufficient_scope
//
// By default tokens are verified here (signature, exp, iss, aud, type,
// scopes), so no request reaches Gatehouse. The price: a logout, a disabled
// user or a demotion takes effect here only when the token expires (15
// minutes by default), and there is no user record for role or permission
// checks.
//
// With -gatehouse http://127.0.0.1:8000 the service holds no key: guard's
// Remote asks Gatehouse's /auth/verify about each request (one local round
// trip, answered from memory), so logouts, disabled users and revoked API
// keys are refused here at once, and API keys work too. A reverse proxy can
// do the same in front of a service in any language (forward auth, see the
// README); a Go service on Gatehouse's database can embed auth.Service, as
// Gatehouse's own server does. guard works the same in every case.
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
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	var g *guard.Guard
	if *remoteURL != "" {
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

// localGuard verifies Gatehouse's access tokens in this process, with the
// signing key it shares with the Gatehouse server.
func localGuard(log *slog.Logger) *guard.Guard {
	secret := []byte(os.Getenv("GATEHOUSE_SECRET_KEY"))
	if len(secret) < 32 {
		fmt.Fprintln(os.Stderr, "guarded: GATEHOUSE_SECRET_KEY must be the Gatehouse server's signing key (≥ 32 bytes)")
		os.Exit(2)
	}
	// Gatehouse names its keys as token.KeysFromSecrets does, and issues
	// tokens for itself (iss and aud "gatehouse").
	tokens, err := token.NewManager(token.Config{
		Keys:   token.KeysFromSecrets(secret, nil),
		Issuer: "gatehouse", Audience: "gatehouse", Leeway: auth.Leeway,
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
