package e2e

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestBrowserSessionOnEveryInstance signs in on A's login page and uses the
// cookie on B (the cookie key is shared through the database), then signs
// out on A and sees B refuse the cookie (the revocation travels as any
// other, through Redis and the change feed).
func TestBrowserSessionOnEveryInstance(t *testing.T) {
	c := newCluster(t)
	a := c.start()
	b := c.start()
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noFollow.PostForm(a.base+"/login", url.Values{"username": {"admin"}, "password": {"e2e-admin-password-1"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var cookie *http.Cookie
	for _, ck := range res.Cookies() {
		if ck.Name == "gatehouse" {
			cookie = ck
		}
	}
	if res.StatusCode != http.StatusSeeOther || cookie == nil {
		t.Fatalf("login on A: %d, cookies %v", res.StatusCode, res.Cookies())
	}
	verify := func(in *instance) int {
		req, _ := http.NewRequest("GET", in.base+"/auth/verify", nil)
		req.AddCookie(cookie)
		res, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := verify(b); code != 200 {
		t.Fatalf("A's cookie on B: %d", code)
	}
	req, _ := http.NewRequest("GET", b.base+"/sessions", nil)
	req.AddCookie(cookie)
	res, err = noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	body := string(raw)
	if res.StatusCode != 200 || !strings.Contains(body, `"kind":"browser"`) || !strings.Contains(body, `"current":true`) {
		t.Fatalf("GET /sessions on B: %d %s", res.StatusCode, body)
	}
	req, _ = http.NewRequest("POST", a.base+"/sign-out", nil)
	req.AddCookie(cookie)
	if res, err = noFollow.Do(req); err != nil || res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out on A: %v %v", res, err)
	}
	res.Body.Close()
	eventually(t, "the signed-out cookie refused on B", func() bool { return verify(b) == 401 })
}
