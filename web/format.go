package web

import (
	"errors"
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/httperror"
)

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"has": func(list, scope string) bool {
		for _, s := range strings.Fields(list) {
			if s == scope {
				return true
			}
		}
		return false
	},
}

// describeAgent names the browser and system of a User-Agent header in a
// few words ("Firefox on Linux"); it only decorates the sessions list, and
// the full header is shown beside it.
func describeAgent(ua string) string {
	if ua == "" {
		return "Unknown client"
	}
	browser := ""
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"HeadlessChrome/", "Headless Chrome"},
		{"Chromium/", "Chromium"}, {"Chrome/", "Chrome"}, {"Safari/", "Safari"}, {"curl/", "curl"},
		{"Go-http-client/", "Go program"}, {"python", "Python program"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	if browser == "" {
		name, _, _ := strings.Cut(ua, "/")
		browser = capText(name, 32)
	}
	system := ""
	for _, s := range []struct{ token, name string }{
		{"Android", "Android"}, {"iPhone", "iOS"}, {"iPad", "iPadOS"}, {"Windows", "Windows"},
		{"Mac OS X", "macOS"}, {"CrOS", "ChromeOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, s.token) {
			system = s.name
			break
		}
	}
	if system == "" {
		return browser
	}
	return browser + " on " + system
}

func capText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func httpStatus(code string) int { return httperror.Status(code) }

func asLockout(err error, l **auth.CodeLockoutError) bool { return errors.As(err, l) }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
