// Command seed prepares the data of scripts/scale.sh: a SQLite database
// holding many users and live revocations, written in bulk (one
// transaction, prepared statements) so that a million rows take seconds,
// and access tokens for many distinct users, signed with the HS256 secret
// of the server under test so that a load generator sends valid ones.
//
//	go run ./scripts/seed db -path /tmp/g.db -users 1000000 -revocations 1000000
//	go run ./scripts/seed mint -secret S -sample TOKEN -users 200000 -of 1000000 -out tokens.txt
//	go run ./scripts/seed warm -url http://127.0.0.1:8500/users/me -tokens tokens.txt
//
// db creates the schema through the sqlite package (its migrations), so
// the server opens the file as one of its own. Users are u1…uN with ids
// 1…N, role user, and a password hash that matches no password: they are
// only named by tokens; admin (id N+1) has -admin-password. Revocations are random jti values expiring in 30
// days, so that a database cached between runs still holds them live.
//
// mint reads the key id, issuer and audience from a token the server
// issued (sample), checks that the secret verifies it, and writes one
// token a line for users spread evenly over ids 1…of.
//
// warm sends GET url once with each token (16 at a time), so that a
// measurement starts with every user the tokens name in the server's
// cache, as in a server that has run for a while.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/sqlite"
	"github.com/gatehouse/gatehouse/token"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: seed db|mint [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "db":
		err = seedDB(os.Args[2:])
	case "mint":
		err = mint(os.Args[2:])
	case "warm":
		err = warm(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "seed:", err)
		os.Exit(1)
	}
}

func seedDB(args []string) error {
	fs := flag.NewFlagSet("db", flag.ExitOnError)
	path := fs.String("path", "", "the SQLite file to create (must not exist)")
	users := fs.Int("users", 1000, "users to insert")
	revs := fs.Int("revocations", 0, "live revocations to insert")
	admin := fs.String("admin-password", "scale-admin-password", "password of the admin (username admin, id users+1) the script logs in as")
	fs.Parse(args)
	if *path == "" {
		return errors.New("db: -path is required")
	}
	if _, err := os.Stat(*path); err == nil {
		return fmt.Errorf("db: %s exists", *path)
	}
	ctx := context.Background()
	start := time.Now()
	db, err := sqlite.Open(ctx, *path) // creates the schema
	if err != nil {
		return fmt.Errorf("db: open: %w", err)
	}
	db.Close()
	raw, err := sql.Open("sqlite", "file:"+*path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)")
	if err != nil {
		return fmt.Errorf("db: open raw: %w", err)
	}
	defer raw.Close()
	now := time.Now().UnixMicro()
	err = bulk(ctx, raw, `INSERT INTO users (id, username, username_key, password_hash, role, created_at, updated_at)
		VALUES (?, ?, ?, 'seeded-no-password', 'user', ?, ?)`, *users, func(i int) []any {
		name := "u" + strconv.Itoa(i+1)
		return []any{i + 1, name, name, now, now}
	})
	if err != nil {
		return fmt.Errorf("db: users: %w", err)
	}
	hash, err := password.NewHasher(password.DefaultParams()).Hash(*admin)
	if err != nil {
		return fmt.Errorf("db: admin: %w", err)
	}
	if _, err := raw.ExecContext(ctx, `INSERT INTO users (id, username, username_key, password_hash, role, created_at, updated_at)
		VALUES (?, 'admin', 'admin', ?, 'admin', ?, ?)`, *users+1, hash, now, now); err != nil {
		return fmt.Errorf("db: admin: %w", err)
	}
	exp := time.Now().Add(30 * 24 * time.Hour).UnixMicro()
	err = bulk(ctx, raw, `INSERT INTO revocations (kind, value, expires_at) VALUES ('jti', ?, ?)`, *revs, func(int) []any {
		return []any{token.NewID(), exp}
	})
	if err != nil {
		return fmt.Errorf("db: revocations: %w", err)
	}
	if _, err := raw.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return fmt.Errorf("db: checkpoint: %w", err)
	}
	fmt.Fprintf(os.Stderr, "seeded %d users, %d revocations in %s\n", *users, *revs, time.Since(start).Round(time.Millisecond))
	return nil
}

// bulk runs stmt n times with row(i)'s arguments, in transactions of 100k.
func bulk(ctx context.Context, db *sql.DB, stmt string, n int, row func(int) []any) error {
	for lo := 0; lo < n; lo += 100_000 {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		st, err := tx.PrepareContext(ctx, stmt)
		if err != nil {
			tx.Rollback()
			return err
		}
		for i := lo; i < min(lo+100_000, n); i++ {
			if _, err := st.ExecContext(ctx, row(i)...); err != nil {
				tx.Rollback()
				return err
			}
		}
		st.Close()
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

func mint(args []string) error {
	fs := flag.NewFlagSet("mint", flag.ExitOnError)
	secret := fs.String("secret", "", "the server's GATEHOUSE_SECRET_KEY")
	sample := fs.String("sample", "", "an access token the server issued")
	users := fs.Int("users", 1000, "distinct users to mint tokens for")
	of := fs.Int("of", 1000, "users in the database (ids 1…of)")
	out := fs.String("out", "", "the file to write, one token a line")
	ttl := fs.Duration("ttl", time.Hour, "lifetime of the tokens")
	fs.Parse(args)
	if *secret == "" || *sample == "" || *out == "" || *users < 1 || *of < *users {
		return errors.New("mint: -secret, -sample and -out are required, and 1 <= -users <= -of")
	}
	parts := strings.Split(*sample, ".")
	if len(parts) != 3 {
		return errors.New("mint: -sample is not a JWS")
	}
	var hdr struct {
		Kid string `json:"kid"`
	}
	var claims struct {
		Iss   string `json:"iss"`
		Aud   any    `json:"aud"`
		Scope string `json:"scope"`
	}
	if err := decode(parts[0], &hdr); err != nil {
		return fmt.Errorf("mint: sample header: %w", err)
	}
	if err := decode(parts[1], &claims); err != nil {
		return fmt.Errorf("mint: sample claims: %w", err)
	}
	aud, _ := claims.Aud.(string)
	if aud == "" {
		aud = "gatehouse"
	}
	m, err := token.NewManager(token.Config{Keys: []token.Key{{ID: hdr.Kid, Secret: []byte(*secret)}},
		Issuer: claims.Iss, Audience: aud, Leeway: auth.Leeway})
	if err != nil {
		return fmt.Errorf("mint: %w", err)
	}
	if _, err := m.Verify(*sample); err != nil {
		return fmt.Errorf("mint: the secret does not verify the sample token: %w", err)
	}
	f, err := os.Create(*out)
	if err != nil {
		return fmt.Errorf("mint: %w", err)
	}
	defer f.Close()
	now := time.Now()
	step := float64(*of) / float64(*users)
	var sid [12]byte
	for i := range *users {
		rand.Read(sid[:])
		t, err := m.Issue(token.Claims{Subject: strconv.Itoa(1 + int(float64(i)*step)), ID: token.NewID(),
			SessionID: base64.RawURLEncoding.EncodeToString(sid[:]), Scope: claims.Scope,
			IssuedAt: now.Unix(), NotBefore: now.Unix(), ExpiresAt: now.Add(*ttl).Unix()})
		if err != nil {
			return fmt.Errorf("mint: %w", err)
		}
		if _, err := fmt.Fprintln(f, t); err != nil {
			return fmt.Errorf("mint: %w", err)
		}
	}
	return f.Close()
}

func decode(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func warm(args []string) error {
	fs := flag.NewFlagSet("warm", flag.ExitOnError)
	url := fs.String("url", "", "the URL to GET with each token")
	file := fs.String("tokens", "", "the tokens, one a line")
	fs.Parse(args)
	b, err := os.ReadFile(*file)
	if err != nil {
		return fmt.Errorf("warm: %w", err)
	}
	tokens := strings.Fields(string(b))
	next := make(chan string)
	var bad atomic.Int64
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	for range 16 {
		wg.Go(func() {
			for t := range next {
				req, _ := http.NewRequest(http.MethodGet, *url, nil)
				req.Header.Set("Authorization", "Bearer "+t)
				resp, err := client.Do(req)
				if err != nil {
					bad.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					bad.Add(1)
				}
			}
		})
	}
	start := time.Now()
	for _, t := range tokens {
		next <- t
	}
	close(next)
	wg.Wait()
	fmt.Fprintf(os.Stderr, "warmed %d tokens in %s\n", len(tokens), time.Since(start).Round(time.Millisecond))
	if n := bad.Load(); n > 0 {
		return fmt.Errorf("warm: %d of %d requests failed", n, len(tokens))
	}
	return nil
}
