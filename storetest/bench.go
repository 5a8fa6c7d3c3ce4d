package storetest

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// BenchOAuthCodeRoundTrip is the store's share of one authorization code
// flow: the client read at /authorize, the code stored, then at /token the
// client read again and the code redeemed (one transaction: a locked read
// and a compare-and-set update). Each store's BenchmarkOAuthCodeRoundTrip
// runs it on a fresh, empty db.
func BenchOAuthCodeRoundTrip(b *testing.B, db gatehouse.Store) {
	ctx := context.Background()
	u := &gatehouse.User{Username: "bench", PasswordHash: "h", Role: gatehouse.RoleUser}
	if err := db.CreateUser(ctx, u); err != nil {
		b.Fatal(err)
	}
	c := &gatehouse.OAuthClient{ID: "app", Name: "App", RedirectURIs: []string{"https://a.example/cb"},
		Grants: []string{gatehouse.GrantAuthorizationCode}, Secrets: []gatehouse.ClientSecret{{Hash: "h", CreatedAt: time.Now()}}}
	if err := db.CreateClient(ctx, c); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		hash := "code-" + strconv.Itoa(i)
		if _, err := db.Client(ctx, "app"); err != nil {
			b.Fatal(err)
		}
		if err := db.CreateAuthCode(ctx, &gatehouse.AuthCode{Hash: hash, ClientID: "app", UserID: u.ID, RedirectURI: "https://a.example/cb",
			Scope: "openid", CodeChallenge: "x", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
			b.Fatal(err)
		}
		if _, err := db.Client(ctx, "app"); err != nil {
			b.Fatal(err)
		}
		if _, err := db.RedeemAuthCode(ctx, hash, now, "sid-"+strconv.Itoa(i)); err != nil {
			b.Fatal(err)
		}
	}
}
