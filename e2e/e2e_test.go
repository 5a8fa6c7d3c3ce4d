// Package e2e runs the built gatehouse binary as users do: several
// instances on one PostgreSQL and one Redis, driven over HTTP.
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

var binary string // built once by TestMain

func TestMain(m *testing.M) {
	if os.Getenv("GATEHOUSE_TEST_POSTGRES_URL") == "" || os.Getenv("GATEHOUSE_TEST_REDIS_URL") == "" {
		fmt.Println("e2e: skipped; set GATEHOUSE_TEST_POSTGRES_URL and GATEHOUSE_TEST_REDIS_URL to run (.ci/run does)")
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "gatehouse-e2e")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "gatehouse")
	build := exec.Command("go", "build", "-o", binary, "../cmd/gatehouse")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Printf("e2e: build failed: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func randomName(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// cluster is a PostgreSQL schema and a Redis prefix of the test's own.
type cluster struct {
	t           *testing.T
	dbURL       string
	redisPrefix string
	secret      string
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	base := os.Getenv("GATEHOUSE_TEST_POSTGRES_URL")
	schema := randomName("gh_e2e_")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), base)
		if err == nil {
			conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			conn.Close(context.Background())
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return &cluster{t: t, dbURL: u.String(), redisPrefix: randomName("gh-e2e-") + ":", secret: randomName("secret-") + "-0123456789abcdef0123456789"}
}

// instance is one running `gatehouse serve`.
type instance struct {
	base string
	cmd  *exec.Cmd
	logs *lockedBuffer
}

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// publicURL is the cluster's GATEHOUSE_PUBLIC_URL: instances behind one
// name share it, as the tokens' issuer.
const publicURL = "http://gatehouse.e2e.test"

func (c *cluster) start(extraEnv ...string) *instance {
	c.t.Helper()
	return c.startAt(freeAddr(c.t), extraEnv...)
}

// startAt starts an instance listening on addr (an earlier instance's, to
// restart it).
func (c *cluster) startAt(addr string, extraEnv ...string) *instance {
	t := c.t
	t.Helper()
	cmd := exec.Command(binary, "serve")
	cmd.Env = append(os.Environ(),
		"GATEHOUSE_ADDR="+addr,
		"GATEHOUSE_DATABASE_URL="+c.dbURL,
		"GATEHOUSE_REDIS_URL="+os.Getenv("GATEHOUSE_TEST_REDIS_URL"),
		"GATEHOUSE_REDIS_PREFIX="+c.redisPrefix,
		"GATEHOUSE_SECRET_KEY="+c.secret,
		"GATEHOUSE_ENCRYPTION_KEY="+c.secret+"-encryption", // one key for every instance, as on PostgreSQL it must be
		"GATEHOUSE_ADMIN_USERNAME=admin",
		"GATEHOUSE_ADMIN_PASSWORD=e2e-admin-password-1",
		"GATEHOUSE_LOGIN_RATE_LIMIT=100000/minute",
		"GATEHOUSE_PUBLIC_URL="+publicURL,
	)
	cmd.Env = append(cmd.Env, extraEnv...)
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = io.Discard, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	in := &instance{base: "http://" + addr, cmd: cmd, logs: logs}
	t.Cleanup(func() { in.cmd.Process.Kill(); in.cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if res, err := http.Get(in.base + "/health"); err == nil {
			res.Body.Close()
			return in
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("instance did not start: %s", logs.String())
	return nil
}

var client = &http.Client{Timeout: 10 * time.Second}

// call sends a request and decodes a JSON answer.
func call(t *testing.T, method, u, bearer, contentType, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	json.NewDecoder(res.Body).Decode(&m)
	return res.StatusCode, m
}

func (in *instance) login(t *testing.T, user, pw string) string {
	t.Helper()
	code, m := call(t, "POST", in.base+"/token", "", "application/x-www-form-urlencoded",
		url.Values{"username": {user}, "password": {pw}}.Encode())
	if code != 200 {
		t.Fatalf("login %s: %d %v", user, code, m)
	}
	return m["access_token"].(string)
}
