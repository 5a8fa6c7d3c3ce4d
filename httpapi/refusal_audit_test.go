package httpapi_test

import (
	"testing"

	"github.com/gatehouse/gatehouse"
)

// Each refusal is audited as what it is: a bad API key as api_key_refused
// whatever else the request carried, a principal lacking a scope or role as
// permission_refused naming the user, and a request with no credential at
// all as nothing (it is no one's refusal).
func TestRefusalsAreAuditedAsWhatTheyAre(t *testing.T) {
	e := newFullEnv(t, opsOptions{})
	bob := e.createUser("bob", pw, gatehouse.RoleUser)
	reader := cred{bearer: e.token("bob", "read:items")}
	key, _ := e.newKey(e.token("bob", ""), nil)
	badKey := key[:len(key)-2] + "xx"

	count := func() map[string][]*gatehouse.AuditEvent {
		by := map[string][]*gatehouse.AuditEvent{}
		for _, ev := range e.events() {
			by[ev.Type] = append(by[ev.Type], ev)
		}
		return by
	}
	before := count()
	steps := []struct {
		name   string
		method string
		path   string
		c      cred
		status int
		typ    string // the event the refusal adds, "" for none
	}{
		{"no key on /protected", "GET", "/protected", cred{}, 403, ""},
		{"no credential on /items", "GET", "/items", cred{}, 401, ""},
		{"a bad key", "GET", "/protected", cred{key: badKey}, 403, gatehouse.EventAPIKeyRefused},
		{"a bad key beside a token", "GET", "/protected", cred{bearer: reader.bearer, key: badKey}, 403, gatehouse.EventAPIKeyRefused},
		{"a bad key on a scoped route", "GET", "/items", cred{key: badKey}, 403, gatehouse.EventAPIKeyRefused},
		{"a missing scope", "POST", "/items", reader, 403, gatehouse.EventPermissionRefused},
		{"a missing role", "POST", "/moderate", reader, 403, gatehouse.EventPermissionRefused},
	}
	for _, st := range steps {
		wantStatus(t, e.call(st.method, st.path, st.c, map[string]any{"name": "x"}), st.status)
		after := count()
		for _, typ := range []string{gatehouse.EventAPIKeyRefused, gatehouse.EventPermissionRefused} {
			want := len(before[typ])
			if typ == st.typ {
				want++
			}
			if got := len(after[typ]); got != want {
				t.Errorf("%s: %d %s events, want %d", st.name, got, typ, want)
			}
		}
		if st.typ == gatehouse.EventPermissionRefused {
			if ev := after[st.typ][0]; ev.UserID != bob.ID || ev.Username != "bob" {
				t.Errorf("%s: the refusal names user %d %q, want bob", st.name, ev.UserID, ev.Username)
			}
		}
		before = after
	}
}
