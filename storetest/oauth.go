package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// oauthTests cover gatehouse.OAuthStore and the sessions opened for an
// OAuth client (migration 009, contract §13).
var oauthTests = []storeTest{
	{"oauth: a client is stored and read back field for field", testClientRoundTrip},
	{"oauth: a taken client id is a conflict and changes nothing", testClientConflict},
	{"oauth: clients are listed by id, paged", testListClients},
	{"oauth: update applies in a transaction; a refused one changes nothing", testUpdateClient},
	{"oauth: unknown clients, codes and consents are not found", testOAuthNotFound},
	{"oauth: deleting a client revokes its sessions only and takes its codes and consents", testDeleteClient},
	{"oauth: a session keeps its client, and rotation reports it", testSessionClientID},
	{"oauth: a code is redeemed once; a reuse returns the first redemption", testRedeemAuthCode},
	{"oauth: concurrent redemptions of one code: exactly one wins", testRedeemAuthCodeRace},
	{"oauth: a consent is set, replaced and read back", testConsents},
	{"oauth: purge removes expired codes only", testPurgeAuthCodes},
	{"oauth: deleting a user takes its codes and consents", testDeleteUserTakesOAuth},
	{"oauth: a closed store is unavailable", testOAuthClosedIsUnavailable},
}

func newClient(id string) *gatehouse.OAuthClient {
	return &gatehouse.OAuthClient{
		ID:   id,
		Name: "App " + id,
		Secrets: []gatehouse.ClientSecret{
			{Hash: "new-" + id, CreatedAt: t0.Add(time.Hour)},
			{Hash: "old-" + id, CreatedAt: t0, ExpiresAt: t0.Add(2 * time.Hour)},
		},
		RedirectURIs:           []string{"https://app.example.com/cb", "http://127.0.0.1/cb"},
		PostLogoutRedirectURIs: []string{"https://app.example.com/bye"},
		Grants:                 []string{gatehouse.GrantAuthorizationCode, gatehouse.GrantRefreshToken},
		Scopes:                 []string{"openid", "profile", "read:items"},
		IDTokenAlg:             "ES256",
	}
}

func mustCreateClient(t *testing.T, s gatehouse.Store, c *gatehouse.OAuthClient) {
	t.Helper()
	if err := s.CreateClient(context.Background(), c); err != nil {
		t.Fatalf("CreateClient(%s): %v", c.ID, err)
	}
}

// sameClient compares two clients, times by instant.
func sameClient(a, b *gatehouse.OAuthClient) bool {
	norm := func(c *gatehouse.OAuthClient) gatehouse.OAuthClient {
		n := *c
		n.CreatedAt, n.UpdatedAt = n.CreatedAt.UTC(), n.UpdatedAt.UTC()
		n.Secrets = nil
		for _, s := range c.Secrets {
			s.CreatedAt = s.CreatedAt.UTC()
			if !s.ExpiresAt.IsZero() {
				s.ExpiresAt = s.ExpiresAt.UTC()
			}
			n.Secrets = append(n.Secrets, s)
		}
		return n
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

func testClientRoundTrip(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	c := newClient("abc_DEF-123")
	mustCreateClient(t, s, c)
	if !c.CreatedAt.Equal(t0) || !c.UpdatedAt.Equal(t0) {
		t.Fatalf("CreateClient set CreatedAt %v, UpdatedAt %v; want the store's clock, %v", c.CreatedAt, c.UpdatedAt, t0)
	}
	got, err := s.Client(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !sameClient(got, c) {
		t.Fatalf("Client = %+v\nwant      %+v", got, c)
	}
	// A public client: no secrets, empty lists read back as nil, flags kept.
	p := &gatehouse.OAuthClient{ID: "spa", Name: "SPA", Public: true, FirstParty: true,
		RedirectURIs: []string{"http://[::1]/cb"}, Grants: []string{gatehouse.GrantAuthorizationCode}, Scopes: []string{}}
	mustCreateClient(t, s, p)
	got, err = s.Client(ctx, "spa")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Public || !got.FirstParty || got.Secrets != nil || got.Scopes != nil || got.PostLogoutRedirectURIs != nil ||
		got.IDTokenAlg != "" || !slices.Equal(got.RedirectURIs, p.RedirectURIs) {
		t.Fatalf("public client read back as %+v", got)
	}
}

func testClientConflict(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	mustCreateClient(t, s, newClient("dup"))
	again := newClient("dup")
	again.Name = "Impostor"
	wantCode(t, s.CreateClient(ctx, again), gatehouse.ECONFLICT)
	got, err := s.Client(ctx, "dup")
	if err != nil || got.Name != "App dup" {
		t.Fatalf("after a conflict: %+v, %v; want the first client unchanged", got, err)
	}
}

func testListClients(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	// Byte order: upper case before '_' before lower case.
	for _, id := range []string{"b", "a", "Z", "_x", "c"} {
		mustCreateClient(t, s, newClient(id))
	}
	var got []string
	after := ""
	for range 10 {
		page, err := s.ListClients(ctx, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 2 {
			t.Fatalf("ListClients(limit 2) gave %d", len(page))
		}
		if len(page) == 0 {
			break
		}
		for _, c := range page {
			got = append(got, c.ID)
		}
		after = page[len(page)-1].ID
	}
	if want := []string{"Z", "_x", "a", "b", "c"}; !slices.Equal(got, want) {
		t.Fatalf("paged ids = %v, want %v", got, want)
	}
}

func testUpdateClient(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	mustCreateClient(t, s, newClient("up"))
	got, err := s.UpdateClient(ctx, "up", func(c *gatehouse.OAuthClient) error {
		c.ID = "renamed" // ignored: the id is the row's
		c.Name = "Renamed"
		c.Secrets = c.Secrets[:1]
		c.RedirectURIs = append(c.RedirectURIs, "https://app.example.com/cb2")
		c.Grants = []string{gatehouse.GrantClientCredentials}
		c.FirstParty = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "up" || got.Name != "Renamed" || len(got.Secrets) != 1 || len(got.RedirectURIs) != 3 {
		t.Fatalf("UpdateClient returned %+v", got)
	}
	read, err := s.Client(ctx, "up")
	if err != nil || !sameClient(read, got) {
		t.Fatalf("Client after update = %+v, %v\nwant %+v", read, err, got)
	}
	if _, err := s.Client(ctx, "renamed"); gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
		t.Fatalf("the apply function renamed the client: %v", err)
	}
	// apply's error comes back as is, and changes nothing.
	refuse := errors.New("refused")
	_, err = s.UpdateClient(ctx, "up", func(c *gatehouse.OAuthClient) error {
		c.Name = "Never"
		return refuse
	})
	if err != refuse {
		t.Fatalf("UpdateClient with a refusing apply: %v, want the apply's error as is", err)
	}
	if read, _ := s.Client(ctx, "up"); read.Name != "Renamed" {
		t.Fatalf("a refused update changed the name to %q", read.Name)
	}
	gerr := gatehouse.Invalid([]string{"body", "redirect_uris"}, "bad", "value_error")
	if _, err := s.UpdateClient(ctx, "up", func(*gatehouse.OAuthClient) error { return gerr }); err != error(gerr) {
		t.Fatalf("a *gatehouse.Error from apply came back as %v", err)
	}
}

func testOAuthNotFound(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	_, err := s.Client(ctx, "nope")
	wantCode(t, err, gatehouse.ENOTFOUND)
	_, err = s.UpdateClient(ctx, "nope", func(*gatehouse.OAuthClient) error { return nil })
	wantCode(t, err, gatehouse.ENOTFOUND)
	_, err = s.DeleteClient(ctx, "nope", t0, t0.Add(time.Hour))
	wantCode(t, err, gatehouse.ENOTFOUND)
	_, err = s.RedeemAuthCode(ctx, "nohash", t0, "sid")
	wantCode(t, err, gatehouse.ENOTFOUND)
	_, err = s.Consent(ctx, 1, "nope")
	wantCode(t, err, gatehouse.ENOTFOUND)
	if l, err := s.ListClients(ctx, "", 10); err != nil || len(l) != 0 {
		t.Fatalf("ListClients on an empty store = %v, %v", l, err)
	}
}

func newCode(hash, clientID string, userID int64) *gatehouse.AuthCode {
	return &gatehouse.AuthCode{
		Hash: hash, ClientID: clientID, UserID: userID, BrowserSID: "browser-1",
		RedirectURI: "https://app.example.com/cb", Scope: "openid profile", Nonce: "n-0S6_WzA2Mj",
		CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", AuthTime: t0.Add(-time.Minute), AMR: "pwd otp",
		CreatedAt: t0, ExpiresAt: t0.Add(time.Minute),
	}
}

func mustCreateCode(t *testing.T, s gatehouse.Store, c *gatehouse.AuthCode) {
	t.Helper()
	if err := s.CreateAuthCode(context.Background(), c); err != nil {
		t.Fatalf("CreateAuthCode(%s): %v", c.Hash, err)
	}
}

func testDeleteClient(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := mustCreate(t, s, "dora", gatehouse.RoleUser)
	mustCreateClient(t, s, newClient("gone"))
	mustCreateClient(t, s, newClient("kept"))
	for _, sess := range []*gatehouse.Session{
		{ID: "g1", UserID: u.ID, CreatedAt: t0, Kind: gatehouse.SessionOAuth, ClientID: "gone"},
		{ID: "g2", UserID: u.ID, CreatedAt: t0, Kind: gatehouse.SessionOAuth, ClientID: "gone"},
		{ID: "k1", UserID: u.ID, CreatedAt: t0, Kind: gatehouse.SessionOAuth, ClientID: "kept"},
		{ID: "own", UserID: u.ID, CreatedAt: t0},
	} {
		createSession(t, s, sess, t0.Add(time.Hour))
	}
	// g2 was already revoked: it is not revoked, or announced, again.
	if err := s.RevokeSession(ctx, "g2", t0); err != nil {
		t.Fatal(err)
	}
	mustCreateCode(t, s, newCode("code-gone", "gone", u.ID))
	mustCreateCode(t, s, newCode("code-kept", "kept", u.ID))
	for _, c := range []string{"gone", "kept"} {
		if err := s.SetConsent(ctx, &gatehouse.Consent{UserID: u.ID, ClientID: c, Scope: "openid", GrantedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	seq := latestChange(t, s)
	until := t0.Add(time.Hour)
	revs, err := s.DeleteClient(ctx, "gone", t0.Add(time.Minute), until)
	if err != nil {
		t.Fatal(err)
	}
	want := []gatehouse.Revocation{{Kind: gatehouse.RevokeSession, Value: "g1", ExpiresAt: until}}
	if len(revs) != 1 || revs[0].Kind != want[0].Kind || revs[0].Value != want[0].Value || !revs[0].ExpiresAt.Equal(until) {
		t.Fatalf("DeleteClient revocations = %+v, want %+v", revs, want)
	}
	var stored []gatehouse.Revocation
	err = s.EachRevocation(ctx, t0.Add(time.Minute), func(r gatehouse.Revocation) error {
		stored = append(stored, r)
		return nil
	})
	if err != nil || !slices.ContainsFunc(stored, func(r gatehouse.Revocation) bool { return r.Value == "g1" && r.Kind == gatehouse.RevokeSession }) {
		t.Fatalf("stored revocations = %+v, %v; want g1's", stored, err)
	}
	changes := changesSince(t, s, seq)
	if len(changes) != 1 || changes[0].Revocation == nil || changes[0].Revocation.Value != "g1" {
		t.Fatalf("change feed after DeleteClient = %+v, want g1's revocation only", changes)
	}
	live, err := s.LiveSessions(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(live)
	if !slices.Equal(live, []string{"k1", "own"}) {
		t.Fatalf("live sessions after DeleteClient = %v, want [k1 own]", live)
	}
	// The revoked session's refresh token no longer rotates.
	rot, err := s.RotateRefreshToken(ctx, "h-g1", t0.Add(2*time.Minute), &gatehouse.RefreshToken{Hash: "next", CreatedAt: t0, ExpiresAt: until}, nil, gatehouse.RefreshLimit{})
	if err != nil || rot.Rotated || !rot.SessionRevoked {
		t.Fatalf("rotation in a deleted client's session: %+v, %v; want refused as revoked", rot, err)
	}
	_, err = s.Client(ctx, "gone")
	wantCode(t, err, gatehouse.ENOTFOUND)
	_, err = s.RedeemAuthCode(ctx, "code-gone", t0, "x")
	wantCode(t, err, gatehouse.ENOTFOUND)
	_, err = s.Consent(ctx, u.ID, "gone")
	wantCode(t, err, gatehouse.ENOTFOUND)
	// The other client keeps everything.
	if _, err := s.Consent(ctx, u.ID, "kept"); err != nil {
		t.Fatalf("the other client's consent: %v", err)
	}
	if c, err := s.RedeemAuthCode(ctx, "code-kept", t0, "x"); err != nil || c.ClientID != "kept" {
		t.Fatalf("the other client's code: %+v, %v", c, err)
	}
	// A client with no sessions deletes without revocations.
	if revs, err := s.DeleteClient(ctx, "kept", t0, until); err != nil || len(revs) != 1 {
		t.Fatalf("DeleteClient(kept) = %+v, %v; want k1's revocation", revs, err)
	}
	if revs, err := s.DeleteClient(ctx, "kept", t0, until); gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND || revs != nil {
		t.Fatalf("deleting twice: %+v, %v; want ENOTFOUND", revs, err)
	}
}

func testSessionClientID(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := mustCreate(t, s, "cid", gatehouse.RoleUser)
	mustCreateClient(t, s, newClient("app"))
	oa := &gatehouse.Session{ID: "oa", UserID: u.ID, Scope: "openid offline_access", CreatedAt: t0, Kind: gatehouse.SessionOAuth,
		ClientID: "app", AuthTime: t0, AMR: "pwd"}
	createSession(t, s, oa, t0.Add(time.Hour))
	createSession(t, s, &gatehouse.Session{ID: "plain", UserID: u.ID, CreatedAt: t0.Add(-time.Minute)}, t0.Add(time.Hour))
	// An OAuth session without a refresh token ends at its ExpiresAt, as a
	// browser session does.
	if err := s.CreateSession(ctx, &gatehouse.Session{ID: "short", UserID: u.ID, CreatedAt: t0.Add(-2 * time.Minute),
		Kind: gatehouse.SessionOAuth, ClientID: "app", ExpiresAt: t0.Add(15 * time.Minute)}, nil); err != nil {
		t.Fatal(err)
	}

	g, err := s.LiveSession(ctx, "oa", t0)
	if err != nil || g.ClientID != "app" || g.Kind != gatehouse.SessionOAuth {
		t.Fatalf("LiveSession(oa) = %+v, %v; want kind oauth, client app", g, err)
	}
	g, err = s.LiveSession(ctx, "short", t0)
	if err != nil || g.ClientID != "app" || !g.ExpiresAt.Equal(t0.Add(15*time.Minute)) {
		t.Fatalf("LiveSession(short) = %+v, %v", g, err)
	}
	if _, err := s.LiveSession(ctx, "short", t0.Add(15*time.Minute)); gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
		t.Fatalf("an OAuth session without refresh token past its end: %v, want ENOTFOUND", err)
	}
	all, err := s.UserSessions(ctx, u.ID, t0, 10)
	if err != nil || len(all) != 3 {
		t.Fatalf("UserSessions = %v, %v", ids(all), err)
	}
	for _, sess := range all {
		if want := map[string]string{"oa": "app", "short": "app", "plain": ""}[sess.ID]; sess.ClientID != want {
			t.Errorf("UserSessions: %s has client %q, want %q", sess.ID, sess.ClientID, want)
		}
	}

	next := &gatehouse.RefreshToken{Hash: "oa-2", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	rot, err := s.RotateRefreshToken(ctx, "h-oa", t0, next, []byte("sealed"), gatehouse.RefreshLimit{})
	if err != nil || !rot.Rotated || rot.ClientID != "app" {
		t.Fatalf("rotation in an OAuth session = %+v, %v; want rotated, ClientID app", rot, err)
	}
	// A reuse reports the client too: the caller checks it before anything.
	rot, err = s.RotateRefreshToken(ctx, "h-oa", t0, &gatehouse.RefreshToken{Hash: "oa-3", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}, nil, gatehouse.RefreshLimit{})
	if err != nil || rot.Rotated || rot.ClientID != "app" {
		t.Fatalf("reuse in an OAuth session = %+v, %v; want not rotated, ClientID app", rot, err)
	}
	rot, err = s.RotateRefreshToken(ctx, "h-plain", t0, &gatehouse.RefreshToken{Hash: "plain-2", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}, nil, gatehouse.RefreshLimit{})
	if err != nil || !rot.Rotated || rot.ClientID != "" {
		t.Fatalf("rotation in a first-party session = %+v, %v; want ClientID empty", rot, err)
	}
}

func sameCode(a, b *gatehouse.AuthCode) bool {
	return a.Hash == b.Hash && a.ClientID == b.ClientID && a.UserID == b.UserID && a.BrowserSID == b.BrowserSID &&
		a.RedirectURI == b.RedirectURI && a.Scope == b.Scope && a.Nonce == b.Nonce && a.CodeChallenge == b.CodeChallenge &&
		a.AuthTime.Equal(b.AuthTime) && a.AMR == b.AMR && a.CreatedAt.Equal(b.CreatedAt) && a.ExpiresAt.Equal(b.ExpiresAt)
}

func testRedeemAuthCode(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := mustCreate(t, s, "rita", gatehouse.RoleUser)
	mustCreateClient(t, s, newClient("app"))
	code := newCode("c1", "app", u.ID)
	mustCreateCode(t, s, code)
	wantCode(t, s.CreateAuthCode(ctx, newCode("c1", "app", u.ID)), gatehouse.ECONFLICT)

	at := t0.Add(10 * time.Second)
	got, err := s.RedeemAuthCode(ctx, "c1", at, "sess-1")
	if err != nil {
		t.Fatal(err)
	}
	if !sameCode(got, code) || !got.RedeemedAt.Equal(at) || got.IssuedSession != "sess-1" {
		t.Fatalf("first redemption = %+v\nwant %+v redeemed at %v by sess-1", got, code, at)
	}
	// The second is told, with what the first did, so that it can be revoked.
	again, err := s.RedeemAuthCode(ctx, "c1", at.Add(time.Second), "sess-2")
	if !errors.Is(err, gatehouse.ErrCodeReused) {
		t.Fatalf("second redemption error = %v, want ErrCodeReused", err)
	}
	if again == nil || !sameCode(again, code) || again.IssuedSession != "sess-1" || !again.RedeemedAt.Equal(at) {
		t.Fatalf("second redemption returned %+v; want the code as the first redeemed it", again)
	}
	// A code with no optional fields round-trips too.
	bare := &gatehouse.AuthCode{Hash: "c2", ClientID: "app", UserID: u.ID, RedirectURI: "http://127.0.0.1:5555/cb",
		Scope: "openid", CodeChallenge: "x", CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}
	mustCreateCode(t, s, bare)
	if got, err := s.RedeemAuthCode(ctx, "c2", t0, "s"); err != nil || !sameCode(got, bare) || !got.AuthTime.IsZero() {
		t.Fatalf("bare code = %+v, %v", got, err)
	}
}

func testRedeemAuthCodeRace(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := mustCreate(t, s, "rory", gatehouse.RoleUser)
	mustCreateClient(t, s, newClient("app"))
	mustCreateCode(t, s, newCode("hot", "app", u.ID))
	winner := make(chan string, 8)
	wins := race(t, 8, func(i int) (bool, error) {
		sid := fmt.Sprintf("s%d", i)
		c, err := s.RedeemAuthCode(ctx, "hot", t0, sid)
		if errors.Is(err, gatehouse.ErrCodeReused) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if c.IssuedSession != sid {
			return false, fmt.Errorf("winner %s got IssuedSession %q", sid, c.IssuedSession)
		}
		winner <- sid
		return true, nil
	})
	if wins != 1 {
		t.Fatalf("%d of 8 concurrent redemptions won, want exactly 1", wins)
	}
	w := <-winner
	c, err := s.RedeemAuthCode(ctx, "hot", t0, "late")
	if !errors.Is(err, gatehouse.ErrCodeReused) || c.IssuedSession != w {
		t.Fatalf("after the race: %+v, %v; want reuse naming the winner %s", c, err, w)
	}
}

func testConsents(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := mustCreate(t, s, "cora", gatehouse.RoleUser)
	v := mustCreate(t, s, "vera", gatehouse.RoleUser)
	mustCreateClient(t, s, newClient("app"))
	if err := s.SetConsent(ctx, &gatehouse.Consent{UserID: u.ID, ClientID: "app", Scope: "openid", GrantedAt: t0}); err != nil {
		t.Fatal(err)
	}
	later := t0.Add(time.Hour)
	if err := s.SetConsent(ctx, &gatehouse.Consent{UserID: u.ID, ClientID: "app", Scope: "openid profile email", GrantedAt: later}); err != nil {
		t.Fatal(err)
	}
	c, err := s.Consent(ctx, u.ID, "app")
	if err != nil || c.UserID != u.ID || c.ClientID != "app" || c.Scope != "openid profile email" || !c.GrantedAt.Equal(later) {
		t.Fatalf("Consent = %+v, %v; want the replacement", c, err)
	}
	_, err = s.Consent(ctx, v.ID, "app")
	wantCode(t, err, gatehouse.ENOTFOUND)
}

func testPurgeAuthCodes(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := mustCreate(t, s, "pia", gatehouse.RoleUser)
	mustCreateClient(t, s, newClient("app"))
	for i, exp := range []time.Duration{time.Second, 30 * time.Second, time.Minute} {
		c := newCode(fmt.Sprintf("p%d", i), "app", u.ID)
		c.ExpiresAt = t0.Add(exp)
		mustCreateCode(t, s, c)
	}
	n, err := s.PurgeAuthCodes(ctx, t0.Add(30*time.Second))
	if err != nil || n != 2 {
		t.Fatalf("PurgeAuthCodes = %d, %v; want 2", n, err)
	}
	if _, err := s.RedeemAuthCode(ctx, "p2", t0, "s"); err != nil {
		t.Fatalf("the unexpired code went: %v", err)
	}
	_, err = s.RedeemAuthCode(ctx, "p0", t0, "s")
	wantCode(t, err, gatehouse.ENOTFOUND)
}

func testDeleteUserTakesOAuth(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := mustCreate(t, s, "del", gatehouse.RoleUser)
	mustCreateClient(t, s, newClient("app"))
	mustCreateCode(t, s, newCode("du", "app", u.ID))
	if err := s.SetConsent(ctx, &gatehouse.Consent{UserID: u.ID, ClientID: "app", Scope: "openid", GrantedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	_, err := s.RedeemAuthCode(ctx, "du", t0, "s")
	wantCode(t, err, gatehouse.ENOTFOUND)
	_, err = s.Consent(ctx, u.ID, "app")
	wantCode(t, err, gatehouse.ENOTFOUND)
	if _, err := s.Client(ctx, "app"); err != nil {
		t.Fatalf("deleting a user took the client: %v", err)
	}
}

func testOAuthClosedIsUnavailable(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	calls := map[string]func() error{
		"Client":      func() error { _, err := s.Client(ctx, "x"); return err },
		"ListClients": func() error { _, err := s.ListClients(ctx, "", 10); return err },
		"CreateClient": func() error {
			return s.CreateClient(ctx, newClient("x"))
		},
		"UpdateClient": func() error {
			_, err := s.UpdateClient(ctx, "x", func(*gatehouse.OAuthClient) error { return nil })
			return err
		},
		"DeleteClient":   func() error { _, err := s.DeleteClient(ctx, "x", t0, t0); return err },
		"CreateAuthCode": func() error { return s.CreateAuthCode(ctx, newCode("x", "x", 1)) },
		"RedeemAuthCode": func() error { _, err := s.RedeemAuthCode(ctx, "x", t0, "s"); return err },
		"Consent":        func() error { _, err := s.Consent(ctx, 1, "x"); return err },
		"SetConsent":     func() error { return s.SetConsent(ctx, &gatehouse.Consent{UserID: 1, ClientID: "x", GrantedAt: t0}) },
		"PurgeAuthCodes": func() error { _, err := s.PurgeAuthCodes(ctx, t0); return err },
	}
	for name, call := range calls {
		if err := call(); gatehouse.ErrorCode(err) != gatehouse.EUNAVAILABLE {
			t.Errorf("%s on a closed store: %v (code %q); want EUNAVAILABLE", name, err, gatehouse.ErrorCode(err))
		}
	}
}
