package e2e

import (
	"io"
	"net"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"
)

// cutter is a TCP forwarder the test can cut and restore, standing for a
// network failure between Gatehouse and PostgreSQL or Redis.
type cutter struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	up     bool
	conns  []net.Conn
}

func newCutter(t *testing.T, target string) *cutter {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cutter{ln: ln, target: target, up: true}
	t.Cleanup(func() { ln.Close(); c.cut() })
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			c.mu.Lock()
			up := c.up
			c.mu.Unlock()
			if !up {
				in.Close()
				continue
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			// cut may have run while we dialled; the pair must not outlive it.
			c.mu.Lock()
			up = c.up
			if up {
				c.conns = append(c.conns, in, out)
			}
			c.mu.Unlock()
			if !up {
				in.Close()
				out.Close()
				continue
			}
			go func() { io.Copy(out, in); out.Close() }()
			go func() { io.Copy(in, out); in.Close() }()
		}
	}()
	return c
}

func (c *cutter) addr() string { return c.ln.Addr().String() }

// cut closes every connection and refuses new ones.
func (c *cutter) cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.up = false
	for _, conn := range c.conns {
		conn.Close()
	}
	c.conns = nil
}

func (c *cutter) restore() {
	c.mu.Lock()
	c.up = true
	c.mu.Unlock()
}

// via rewrites a URL's host to go through the cutter.
func via(t *testing.T, raw string, c *cutter) string {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = c.addr()
	return u.String()
}

func hostOf(t *testing.T, raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 15 s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRedisDownDegradesAndRecovers(t *testing.T) {
	c := newCluster(t)
	redisURL := os.Getenv("GATEHOUSE_TEST_REDIS_URL")
	cut := newCutter(t, hostOf(t, redisURL))
	a := c.start("GATEHOUSE_REDIS_URL=" + via(t, redisURL, cut))
	b := c.start()
	tok := a.login(t, "admin", "e2e-admin-password-1")
	if code, _ := call(t, "GET", a.base+"/ready", "", "", ""); code != 200 {
		t.Fatalf("/ready before: %d", code)
	}

	cut.cut()
	eventually(t, "/ready says Redis is down", func() bool {
		code, _ := call(t, "GET", a.base+"/ready", "", "", "")
		return code == 503
	})
	// Verification goes on from memory, and so do logins.
	if code, _ := call(t, "GET", a.base+"/users/me", tok, "", ""); code != 200 {
		t.Fatalf("/users/me with Redis down: %d", code)
	}
	tok2 := a.login(t, "admin", "e2e-admin-password-1")
	// A logout on B reaches A through the database's change feed even
	// though A cannot hear Redis.
	if code, _ := call(t, "POST", b.base+"/logout", tok2, "", ""); code != 200 {
		t.Fatalf("logout on B: %d", code)
	}
	eventually(t, "A refuses a token logged out on B while A has no Redis", func() bool {
		code, _ := call(t, "GET", a.base+"/users/me", tok2, "", "")
		return code == 401
	})
	// Rate limits fall back to the instance.
	if code, _ := call(t, "GET", a.base+"/limited", "", "", ""); code != 200 {
		t.Fatalf("/limited with Redis down: %d", code)
	}

	cut.restore()
	eventually(t, "/ready recovers", func() bool {
		code, _ := call(t, "GET", a.base+"/ready", "", "", "")
		return code == 200
	})
}

func TestPostgresDownFailsWritesClearlyAndRecovers(t *testing.T) {
	c := newCluster(t)
	cut := newCutter(t, hostOf(t, c.dbURL))
	a := c.start("GATEHOUSE_DATABASE_URL=" + via(t, c.dbURL, cut))
	tok := a.login(t, "admin", "e2e-admin-password-1")
	if code, _ := call(t, "GET", a.base+"/users/me", tok, "", ""); code != 200 {
		t.Fatal("token refused before the cut")
	}

	cut.cut()
	// A valid token of a cached user still verifies.
	if code, _ := call(t, "GET", a.base+"/users/me", tok, "", ""); code != 200 {
		t.Fatalf("/users/me with PostgreSQL down: %d", code)
	}
	code, m := call(t, "POST", a.base+"/token", "", "application/x-www-form-urlencoded", "username=admin&password=e2e-admin-password-1")
	if code != 503 || m["detail"] == nil {
		t.Fatalf("login with PostgreSQL down: %d %v, want 503 with a detail\n%s", code, m, a.logs.String())
	}
	if code, _ := call(t, "GET", a.base+"/ready", "", "", ""); code != 503 {
		t.Fatalf("/ready with PostgreSQL down: %d", code)
	}

	cut.restore()
	eventually(t, "logins work again", func() bool {
		code, _ := call(t, "POST", a.base+"/token", "", "application/x-www-form-urlencoded", "username=admin&password=e2e-admin-password-1")
		return code == 200
	})
}
