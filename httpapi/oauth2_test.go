package httpapi_test

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"golang.org/x/oauth2"
)

// TestOAuth2ClientLibrary drives the server with golang.org/x/oauth2, as a
// real Go client would: the password grant, then a refresh through its
// TokenSource when the access token has expired.
func TestOAuth2ClientLibrary(t *testing.T) {
	e := newEnv(t)
	e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	conf := &oauth2.Config{
		ClientID: "gatehouse-cli",
		Endpoint: oauth2.Endpoint{TokenURL: e.srv.URL + "/token", AuthStyle: oauth2.AuthStyleInParams},
		Scopes:   []string{"read:items"},
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, e.srv.Client())
	tok, err := conf.PasswordCredentialsToken(ctx, "alice", "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == "" || tok.RefreshToken == "" || tok.TokenType != "bearer" || tok.Expiry.IsZero() {
		t.Fatalf("token: %+v", tok)
	}
	if got, _ := tok.Extra("scope").(string); got != "read:items" {
		t.Errorf("granted scope = %q", got)
	}

	get := func(c *http.Client) int {
		res, err := c.Get(e.srv.URL + "/users/me")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	if s := get(conf.Client(ctx, tok)); s != 200 {
		t.Fatalf("/users/me with the library's client: %d", s)
	}

	// Expire the token as the client sees it: the TokenSource must refresh.
	old := *tok
	tok.Expiry = time.Now().Add(-time.Minute)
	src := conf.TokenSource(ctx, tok)
	fresh, err := src.Token()
	if err != nil {
		t.Fatalf("refresh through TokenSource: %v", err)
	}
	if fresh.AccessToken == old.AccessToken || fresh.RefreshToken == old.RefreshToken {
		t.Fatal("TokenSource did not obtain a rotated pair")
	}
	if s := get(oauth2.NewClient(ctx, oauth2.StaticTokenSource(fresh))); s != 200 {
		t.Fatalf("/users/me after refresh: %d", s)
	}

	// A wrong password surfaces as the library's RetrieveError with the
	// RFC 6749 §5.2 code.
	_, err = conf.PasswordCredentialsToken(ctx, "alice", "not the password")
	re, ok := err.(*oauth2.RetrieveError)
	if !ok || re.ErrorCode != "invalid_grant" || re.Response.StatusCode != 401 {
		t.Fatalf("wrong password: %#v", err)
	}
}
