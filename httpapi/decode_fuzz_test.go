package httpapi

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse"
)

// wantClientError fails unless err is nil or a validation / too-large error:
// a malformed body must never become a 500.
func wantClientError(t *testing.T, err error) {
	t.Helper()
	switch gatehouse.ErrorCode(err) {
	case "", gatehouse.EINVALID, gatehouse.ETOOLARGE:
	default:
		t.Fatalf("decoder returned %v (code %q)", err, gatehouse.ErrorCode(err))
	}
}

func FuzzReadForm(f *testing.F) {
	f.Add("application/x-www-form-urlencoded", "username=alice&password=x")
	f.Add("application/x-www-form-urlencoded", "a=%zz")
	f.Add("application/x-www-form-urlencoded; charset=utf-8", "a=1&a=2")
	f.Add("multipart/form-data; boundary=XX", "--XX\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nalice\r\n--XX--\r\n")
	f.Add("multipart/form-data; boundary=XX", "--XX\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a\"\r\n\r\nx\r\n--XX--")
	f.Add("multipart/form-data", "garbage")
	f.Add("text/plain", "username=alice")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, contentType, body string) {
		r := httptest.NewRequest("POST", "/token", strings.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		v, err := readForm(r)
		wantClientError(t, err)
		if err == nil {
			for k, vals := range v {
				if len(vals) != 1 {
					t.Fatalf("parameter %q accepted %d times", k, len(vals))
				}
			}
		}
	})
}

func FuzzReadJSON(f *testing.F) {
	f.Add(`{"refresh_token":"ghr_x"}`)
	f.Add(`{"refresh_token":1}`)
	f.Add(`{"refresh_token":"a"} {"x":1}`)
	f.Add(`{"refresh_token":"a"}]`)
	f.Add(`[`)
	f.Add(``)
	f.Add(`null`)
	f.Add(`{"refresh_token":"\ud800"}`)
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest("POST", "/token/refresh", strings.NewReader(body))
		var v struct {
			RefreshToken *string `json:"refresh_token"`
		}
		wantClientError(t, readJSON(r, &v))
	})
}

func TestReadJSONTakesExactlyOneValue(t *testing.T) {
	for _, tt := range []struct {
		body string
		ok   bool
	}{
		{`{"refresh_token":"x"}`, true},
		{" {\"refresh_token\":\"x\"} \n", true},
		{`{"refresh_token":"x"}]`, false},
		{`{"refresh_token":"x"}}`, false},
		{`{"refresh_token":"x"} {"refresh_token":"y"}`, false},
		{`{"refresh_token":"x"} 1`, false},
		{`{"refresh_token":1}`, false},
		{``, false},
	} {
		r := httptest.NewRequest("POST", "/token/refresh", strings.NewReader(tt.body))
		var v struct {
			RefreshToken *string `json:"refresh_token"`
		}
		err := readJSON(r, &v)
		if ok := err == nil; ok != tt.ok {
			t.Errorf("readJSON(%q) = %v, want ok=%v", tt.body, err, tt.ok)
		}
		if err != nil && gatehouse.ErrorCode(err) != gatehouse.EINVALID {
			t.Errorf("readJSON(%q) = %v, want a 422", tt.body, err)
		}
	}
}
