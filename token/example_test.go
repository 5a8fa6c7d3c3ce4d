package token_test

import (
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/token"
)

func Example() {
	secret := make([]byte, 32)
	rand.Read(secret)
	m, err := token.NewManager(token.Config{
		Keys:     []token.Key{{ID: "2026-11", Secret: secret}},
		Issuer:   "https://auth.example.com",
		Audience: "example-api",
		Leeway:   30 * time.Second,
	})
	if err != nil {
		panic(err)
	}
	now := time.Now()
	tok, err := m.Issue(token.Claims{
		Subject:   "42",
		ID:        token.NewID(),
		SessionID: token.NewID(),
		Scope:     "read:items",
		IssuedAt:  now.Unix(),
		NotBefore: now.Unix(),
		ExpiresAt: now.Add(15 * time.Minute).Unix(),
	})
	if err != nil {
		panic(err)
	}
	c, err := m.Verify(tok)
	fmt.Println(c.Subject, c.Scope, err)
	_, err = m.Verify(tok + "x")
	fmt.Println(errors.Is(err, token.ErrMalformed))
	// Output:
	// 42 read:items <nil>
	// true
}
