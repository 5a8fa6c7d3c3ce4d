package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/httpapi"
	"github.com/gatehouse/gatehouse/internal/pgtest"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/postgres"
	"github.com/gatehouse/gatehouse/sqlite"
	"github.com/gatehouse/gatehouse/token"
)

// bothStores opens a fresh store of each kind: SQLite always, PostgreSQL
// when its test database is configured (pgtest skips it otherwise).
var bothStores = []struct {
	name string
	open func(t *testing.T) gatehouse.Store
}{
	{"sqlite", func(t *testing.T) gatehouse.Store {
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "g.db"))
		if err != nil {
			t.Fatal(err)
		}
		return db
	}},
	{"postgres", func(t *testing.T) gatehouse.Store {
		db, err := postgres.Open(context.Background(), pgtest.FreshSchema(t))
		if err != nil {
			t.Fatal(err)
		}
		return db
	}},
}

// TestADatabaseThatCannotAnswerIs503 (issue 9 finding 8): whichever
// query meets a database that cannot answer — a read as well as a write,
// on either store — the client gets the contract's 503 with its JSON
// detail and Retry-After, never a 500.
func TestADatabaseThatCannotAnswerIs503(t *testing.T) {
	for _, st := range bothStores {
		t.Run(st.name, func(t *testing.T) {
			ctx := context.Background()
			store := st.open(t)
			tokens, err := token.NewManager(token.Config{Keys: []token.Key{{ID: "k1", Secret: []byte("0123456789abcdef0123456789abcdef-test")}},
				Issuer: "gatehouse", Audience: "gatehouse"})
			if err != nil {
				t.Fatal(err)
			}
			pool := password.NewPool(1, 8)
			t.Cleanup(pool.Close)
			svc, err := auth.New(auth.Config{Store: store, Tokens: tokens, Hasher: password.NewHasher(testParams), Pool: pool,
				Policy: password.DefaultPolicy()})
			if err != nil {
				t.Fatal(err)
			}
			api, err := httpapi.New(httpapi.Config{Auth: svc, Store: store})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(api)
			t.Cleanup(srv.Close)
			admin, err := svc.CreateUser(ctx, auth.NewUser{Username: "root", Password: "correct horse battery", Role: gatehouse.RoleAdmin})
			if err != nil {
				t.Fatal(err)
			}
			pair, err := svc.Login(ctx, "root", "correct horse battery", "")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Authenticate(ctx, pair.AccessToken); err != nil { // the user is cached: the token works without the database
				t.Fatal(err)
			}

			store.Close()

			bearer := "Bearer " + pair.AccessToken
			form := url.Values{"username": {"root"}, "password": {"correct horse battery"}}.Encode()
			for _, req := range []struct{ method, path, auth, body string }{
				{"POST", "/token", "", form}, // UserByUsername
				{"POST", "/token/refresh", "", `{"refresh_token":"` + pair.RefreshToken + `"}`}, // a write
				{"GET", "/users", bearer, ""},                                    // ListUsers
				{"GET", "/users/" + strconv.FormatInt(admin.ID, 10), bearer, ""}, // UserByID
				{"GET", "/audit", bearer, ""},                                    // AuditEvents
				{"GET", "/api-keys", bearer, ""},                                 // APIKeysByUser
				{"GET", "/items", bearer, ""},                                    // ItemsByOwner
			} {
				r, err := http.NewRequest(req.method, srv.URL+req.path, strings.NewReader(req.body))
				if err != nil {
					t.Fatal(err)
				}
				if req.auth != "" {
					r.Header.Set("Authorization", req.auth)
				}
				if req.path == "/token" {
					r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				} else if req.body != "" {
					r.Header.Set("Content-Type", "application/json")
				}
				res := decode(t, r)
				if res.status != 503 || res.str("detail") != "Database unavailable, try again" || res.header.Get("Retry-After") == "" ||
					res.header.Get("Content-Type") != "application/json" {
					t.Errorf("%s %s with the database closed: %d %s (Retry-After %q); want 503 with the contract's JSON",
						req.method, req.path, res.status, res.raw, res.header.Get("Retry-After"))
				}
			}
		})
	}
}

// decode sends r and decodes the answer.
func decode(t *testing.T, r *http.Request) response {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	res, err := c.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	return readResponse(res)
}
