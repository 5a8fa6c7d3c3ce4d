// Command flood sends a running Gatehouse what an attacker without any
// credential can send as fast as it can: refused API keys on a 60 KiB
// path (DELETE /users/aaa…, X-API-Key: x) and failed logins, from one
// client. It prints what it got back as one JSON object, so that a test
// or scripts/flood.sh can hold the audit log's growth against it
// (contract §12).
//
//	go run ./scripts/flood -url http://127.0.0.1:8000 -d 30s
package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	base := flag.String("url", "http://127.0.0.1:8000", "the server")
	d := flag.Duration("d", 30*time.Second, "how long to flood")
	conns := flag.Int("c", 8, "concurrent connections")
	pathLen := flag.Int("path-len", 60<<10, "length of the DELETE /users/… path")
	logins := flag.Bool("logins", true, "send failed logins too (every other request)")
	xff := flag.String("xff", "", "an IPv6 /64 such as 2001:db8:1:2::/64: send X-Forwarded-For from a random address in it (the server must trust the flooder as a proxy)")
	flag.Parse()
	var prefix netip.Prefix
	if *xff != "" {
		p, err := netip.ParsePrefix(*xff)
		if err != nil || !p.Addr().Is6() || p.Bits() != 64 {
			fmt.Fprintln(os.Stderr, "flood: -xff must be an IPv6 /64")
			os.Exit(2)
		}
		prefix = p.Masked()
	}
	res, err := run(context.Background(), *base, *d, *conns, *pathLen, *logins, prefix)
	if err != nil {
		fmt.Fprintln(os.Stderr, "flood:", err)
		os.Exit(1)
	}
	json.NewEncoder(os.Stdout).Encode(res)
}

// result counts the answers by request kind and status.
type result struct {
	Delete map[string]int64 `json:"delete"` // DELETE /users/<long> with X-API-Key: x
	Login  map[string]int64 `json:"login"`  // POST /token with a wrong password
	Errors int64            `json:"errors"` // transport errors
}

func run(ctx context.Context, base string, d time.Duration, conns, pathLen int, logins bool, prefix netip.Prefix) (*result, error) {
	if _, err := url.Parse(base); err != nil {
		return nil, err
	}
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	defer tr.CloseIdleConnections()
	deletePath := base + "/users/" + strings.Repeat("a", pathLen)
	res := &result{Delete: map[string]int64{}, Login: map[string]int64{}}
	var mu sync.Mutex
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for c := range conns {
		wg.Go(func() {
			for i := 0; time.Now().Before(deadline); i++ {
				var req *http.Request
				login := logins && (i+c)%2 == 1
				if login {
					form := url.Values{"username": {"nobody-" + strconv.Itoa(i%1000)}, "password": {"not the password"}}
					req, _ = http.NewRequestWithContext(ctx, "POST", base+"/token", strings.NewReader(form.Encode()))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				} else {
					req, _ = http.NewRequestWithContext(ctx, "DELETE", deletePath, nil)
					req.Header.Set("X-API-Key", "x")
				}
				req.Header.Set("User-Agent", "flood/1 "+strings.Repeat("u", 200))
				if prefix.IsValid() {
					req.Header.Set("X-Forwarded-For", randomIn(prefix).String())
				}
				resp, err := client.Do(req)
				mu.Lock()
				if err != nil {
					res.Errors++
				} else if login {
					res.Login[strconv.Itoa(resp.StatusCode)]++
				} else {
					res.Delete[strconv.Itoa(resp.StatusCode)]++
				}
				mu.Unlock()
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		})
	}
	wg.Wait()
	return res, nil
}

// randomIn returns a random address in the /64 p.
func randomIn(p netip.Prefix) netip.Addr {
	b := p.Addr().As16()
	var low [8]byte
	rand.Read(low[:])
	binary.BigEndian.PutUint64(b[8:], binary.BigEndian.Uint64(low[:]))
	return netip.AddrFrom16(b)
}
