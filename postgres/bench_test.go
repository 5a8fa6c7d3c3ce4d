package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// The store's hot paths: a user read on every authenticated request (until
// cached), an API key found by its lookup id, and a refresh rotation (one
// transaction: a locked read, a compare-and-set update, an insert).

func BenchmarkUserByID(b *testing.B) {
	ctx := context.Background()
	db := openDB(b)
	u := &gatehouse.User{Username: "bench", PasswordHash: "h", Role: gatehouse.RoleUser, Permissions: []string{gatehouse.PermReadUsers}}
	if err := db.CreateUser(ctx, u); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := db.UserByID(ctx, u.ID); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAPIKeyByLookup(b *testing.B) {
	ctx := context.Background()
	db := openDB(b)
	u := &gatehouse.User{Username: "bench", PasswordHash: "h", Role: gatehouse.RoleUser}
	if err := db.CreateUser(ctx, u); err != nil {
		b.Fatal(err)
	}
	k := &gatehouse.APIKey{UserID: u.ID, Name: "k", LookupID: "lookup", SecretHash: make([]byte, 32), Scope: "read:items", Active: true}
	if err := db.CreateAPIKey(ctx, k, 0); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := db.APIKeyByLookup(ctx, "lookup"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRotateRefreshToken(b *testing.B) {
	ctx := context.Background()
	db := openDB(b)
	u := &gatehouse.User{Username: "bench", PasswordHash: "h", Role: gatehouse.RoleUser}
	if err := db.CreateUser(ctx, u); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	if err := db.CreateSession(ctx, &gatehouse.Session{ID: "s", UserID: u.ID, Scope: "read:items", CreatedAt: now},
		&gatehouse.RefreshToken{Hash: "t0", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		b.Fatal(err)
	}
	sealed := make([]byte, 60)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		next := &gatehouse.RefreshToken{Hash: fmt.Sprint("t", i+1), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		rot, err := db.RotateRefreshToken(ctx, fmt.Sprint("t", i), now, next, sealed, gatehouse.RefreshLimit{})
		if err != nil || !rot.Rotated {
			b.Fatalf("rotate %d: %+v, %v", i, rot, err)
		}
		i++
	}
}
