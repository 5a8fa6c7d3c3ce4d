package httpapi_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

func TestItemsAreStoredWithTheirOwnerAndListedOnlyToThem(t *testing.T) {
	e := newEnv(t)
	alice := e.createUser("alice", pw, gatehouse.RoleUser)
	e.createUser("bob", pw, gatehouse.RoleUser)
	at, bt := cred{bearer: e.token("alice", "")}, cred{bearer: e.token("bob", "")}

	r := e.call("POST", "/items/", at, map[string]any{"name": "widget", "description": "a <b>fine</b> one", "price": 9.5})
	wantStatus(t, r, 200)
	item := r.body["item"].(map[string]any)
	if item["name"] != "widget" || item["description"] != "a <b>fine</b> one" || item["price"] != 9.5 ||
		item["owner_id"] != float64(alice.ID) || item["id"] == nil || item["created_at"] == nil {
		t.Fatalf("item %s", r.raw)
	}
	r = e.call("POST", "/items", at, map[string]any{"name": "gadget"})
	wantStatus(t, r, 200)
	if it := r.body["item"].(map[string]any); it["description"] != nil || it["price"] != nil {
		t.Fatalf("absent fields not null: %s", r.raw)
	}
	key, _ := e.newKey(at.bearer, "write:items")
	wantStatus(t, e.call("POST", "/items", cred{key: key}, map[string]any{"name": "by key"}), 200)

	list := e.call("GET", "/items", at, nil)
	wantStatus(t, list, 200)
	var names []string
	for _, it := range list.body["items"].([]any) {
		names = append(names, it.(map[string]any)["name"].(string))
	}
	if fmt.Sprint(names) != "[widget gadget by key]" {
		t.Fatalf("alice's items = %v", names)
	}
	if r := e.call("GET", "/items", bt, nil); r.raw != "{\"items\":[]}\n" {
		t.Fatalf("bob sees %s", r.raw)
	}
}

func TestCreateItemRefusesBadInputAndStoresNothing(t *testing.T) {
	e := newEnv(t)
	e.createUser("alice", pw, gatehouse.RoleUser)
	at := cred{bearer: e.token("alice", "")}
	tests := []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"missing name", map[string]any{"description": "no name"}, "name"},
		{"blank name", map[string]any{"name": "  "}, "name"},
		{"name too long", map[string]any{"name": strings.Repeat("n", 201)}, "name"},
		{"description too long", map[string]any{"name": "n", "description": strings.Repeat("d", 5001)}, "description"},
		{"price not a number", map[string]any{"name": "n", "price": "free"}, "price"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantValidation(t, e.call("POST", "/items", at, tt.body), tt.field)
		})
	}
	// Refused for want of scope: nothing stored either.
	wantStatus(t, e.call("POST", "/items", cred{bearer: e.token("alice", "read:items")}, map[string]any{"name": "n"}), 403)
	if r := e.call("GET", "/items", at, nil); len(r.body["items"].([]any)) != 0 {
		t.Fatalf("refused requests stored items: %s", r.raw)
	}
}

func TestModerateNeedsModeratorOrAbove(t *testing.T) {
	e := newEnv(t)
	e.createUser("root", pw, gatehouse.RoleAdmin)
	e.createUser("mo", pw, gatehouse.RoleModerator)
	e.createUser("alice", pw, gatehouse.RoleUser)
	tests := []struct {
		user   string
		status int
	}{
		{"root", 200}, // the guide's exact-match check refused admins
		{"mo", 200},
		{"alice", 403},
	}
	for _, tt := range tests {
		r := e.call("POST", "/moderate", cred{bearer: e.token(tt.user, "")}, nil)
		wantStatus(t, r, tt.status)
		if tt.status == 200 && r.str("message") != "Content moderated" {
			t.Fatalf("%s: %s", tt.user, r.raw)
		}
	}
}

// elementsIn parses s as an HTML fragment inside a <div> and returns every
// element and attribute found: none may survive sanitising.
func elementsIn(t *testing.T, s string) []string {
	t.Helper()
	ctx := &html.Node{Type: html.ElementNode, Data: "div", DataAtom: atom.Div}
	nodes, err := html.ParseFragment(strings.NewReader(s), ctx)
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode || n.Type == html.CommentNode {
			found = append(found, "<"+n.Data+">")
		}
		for _, a := range n.Attr {
			found = append(found, a.Key+"=")
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	for _, n := range nodes {
		walk(n)
	}
	return found
}

func TestCommentsKeepTextAndNoElementOrAttribute(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, in string
		want     string // exact output; "" when only the properties are checked
	}{
		{"plain text", "Nice post, thanks!", "Nice post, thanks!"},
		{"the guide's example", `<script>alert(1)</script><b>hi</b> & <a href="x">link</a>`, "hi &amp; link"},
		{"script element", "<script>alert(document.cookie)</script>ok", "ok"},
		{"script in mixed case", "<ScRiPt>alert(1)</sCrIpT>ok", "ok"},
		{"script with attributes", `<script src="https://evil.example/x.js"></script>ok`, "ok"},
		{"img onerror", `<img src=x onerror=alert(1)>text`, "text"},
		{"body onload", `<body onload="alert(1)">hello</body>`, "hello"},
		{"event handler in mixed case", `<div OnMouseOver="alert(1)">hover</div>`, "hover"},
		{"javascript: link", `<a href="javascript:alert(1)">click</a>`, "click"},
		{"javascript: link, entity-encoded", `<a href="&#106;avascript:alert(1)">click</a>`, "click"},
		{"javascript: link with whitespace", "<a href=\"jav\tascript:alert(1)\">click</a>", "click"},
		{"data: URL iframe", `<iframe src="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="></iframe>ok`, "ok"},
		{"svg onload", `<svg onload=alert(1)><circle r="1"/></svg>ok`, "ok"},
		{"svg script", `<svg><script>alert(1)</script></svg>ok`, "ok"},
		{"math and xlink", `<math><mtext><a xlink:href="javascript:alert(1)">x</a></mtext></math>`, "x"},
		{"style element", `<style>body{background:url("javascript:alert(1)")}</style>ok`, "ok"},
		{"style attribute", `<p style="background:url(javascript:alert(1))">para</p>`, "para"},
		{"entity-encoded tags stay text", "&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;script&gt;alert(1)&lt;/script&gt;"},
		{"nested to survive one pass", "<scr<script>ipt>alert(1)</scr</script>ipt>", ""},
		{"unclosed tag", `<img src=x onerror=alert(1)//`, ""},
		{"malformed attribute quoting", `<a href="x" onclick='alert(1)' title=">">t</a>`, ""},
		{"comment hiding a script", "<!--<script>alert(1)</script>-->ok", "ok"},
		{"CDATA", "<![CDATA[<script>alert(1)</script>]]>ok", ""},
		{"meta refresh", `<meta http-equiv="refresh" content="0;url=javascript:alert(1)">ok`, "ok"},
		{"form action", `<form action="javascript:alert(1)"><input type=submit></form>ok`, "ok"},
		{"object data", `<object data="javascript:alert(1)"></object>ok`, "ok"},
		{"template", `<template><img src=x onerror=alert(1)></template>ok`, "ok"},
		{"null byte in tag", "<scr\x00ipt>alert(1)</script>ok", ""},
		{"angle brackets in text", "1 < 2 and 3 > 2", "1 &lt; 2 and 3 &gt; 2"},
		{"unicode text", "héllo wörld ✓", "héllo wörld ✓"},
		{"quotes come back escaped, as text in HTML", `it's "quoted"`, "it&#39;s &#34;quoted&#34;"},
	}
	if len(tests) < 20 {
		t.Fatalf("only %d payloads", len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.call("POST", "/comments/", cred{}, map[string]any{"content": tt.in})
			wantStatus(t, r, 200)
			out := r.str("content")
			if found := elementsIn(t, out); len(found) > 0 {
				t.Fatalf("%q → %q keeps %v", tt.in, out, found)
			}
			if strings.ContainsAny(out, "<>") {
				t.Fatalf("%q → %q keeps an angle bracket", tt.in, out)
			}
			if tt.want != "" && out != tt.want {
				t.Fatalf("%q → %q, want %q", tt.in, out, tt.want)
			}
		})
	}
	wantValidation(t, e.call("POST", "/comments", cred{}, map[string]any{}), "content")
	wantValidation(t, e.call("POST", "/comments", cred{}, map[string]any{"content": 1}), "content")
}
