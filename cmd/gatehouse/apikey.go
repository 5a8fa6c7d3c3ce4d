package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/apikey"
	"github.com/gatehouse/gatehouse/rbac"
)

const apikeyUsage = `usage:
  gatehouse apikey create --user NAME --name NAME [--scopes "read:items write:items"] [--expires-at 2027-01-01T00:00:00Z]
  gatehouse apikey list [--user NAME]
  gatehouse apikey revoke ID

create prints the key on standard output, once; the database keeps only a
hash. Its scopes default to all the user's role allows. A revoked key stops
working on a running server within a second.`

// apikeyCommand runs `gatehouse apikey create|list|revoke`.
func apikeyCommand(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	sub, err := subcommand(args, apikeyUsage, stderr)
	if sub == "" {
		return err
	}
	s := newSettings("apikey "+sub, apikeyUsage)
	s.fs.SetOutput(stderr)
	sf := addStoreFlags(s)
	user := s.fs.String("user", "", "the key's owner (create), or whose keys to list")
	name := s.fs.String("name", "", "a name for the new key, 1–100 characters")
	scopes := s.fs.String("scopes", "", "space-separated scopes of the new key; default: all the user's role allows")
	expiresAt := s.fs.String("expires-at", "", "RFC 3339 time at which the new key stops working; default: never")
	pos, err := s.parseInterleaved(args[1:]) // flags may come before or after ID
	if err != nil {
		return err
	}
	want := map[string]int{"create": 0, "list": 0, "revoke": 1}
	n, ok := want[sub]
	if !ok {
		fmt.Fprintln(stderr, apikeyUsage)
		return &configError{env: "command", err: fmt.Errorf("unknown apikey subcommand %q", sub)}
	}
	if len(pos) != n {
		fmt.Fprintln(stderr, apikeyUsage)
		return &configError{env: "arguments", err: fmt.Errorf("apikey %s takes %d argument(s), got %d", sub, n, len(pos))}
	}
	var expires time.Time
	if sub == "create" {
		if *user == "" || *name == "" {
			return &configError{env: "arguments", err: errors.New("apikey create needs --user and --name")}
		}
		if *expiresAt != "" {
			t, err := time.Parse(time.RFC3339, *expiresAt)
			if err != nil {
				return &configError{env: "arguments", err: fmt.Errorf("--expires-at %q is not an RFC 3339 time", *expiresAt)}
			}
			expires = t
		}
	}
	var id int64
	if sub == "revoke" {
		var err error
		if id, err = strconv.ParseInt(pos[0], 10, 64); err != nil || id <= 0 {
			return &configError{env: "arguments", err: fmt.Errorf("%q is not an API key id", pos[0])}
		}
	}
	a, err := sf.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer a.Close()

	switch sub {
	case "create":
		u, err := a.store.UserByUsername(ctx, *user)
		if err != nil {
			return publicError(err)
		}
		// The operator acts with everything the user's role allows; a key
		// created without --scopes gets what a login without a scope list
		// does (read:revocations only when named).
		p := &gatehouse.Principal{User: u, Scope: rbac.Grant(u.Role, "")}
		if strings.TrimSpace(*scopes) != "" {
			p.Scope = rbac.AllowedScopes(u.Role)
		}
		key, k, err := a.auth.CreateAPIKey(ctx, p, *name, *scopes, expires)
		if err != nil {
			return publicError(err)
		}
		// The key alone on stdout, so that KEY=$(gatehouse apikey create …) works.
		fmt.Fprintf(stderr, "created API key %d %q for %s, scopes %q; it is shown only this once:\n", k.ID, k.Name, u.Username, k.Scope)
		fmt.Fprintln(stdout, key)
	case "list":
		var users []*gatehouse.User
		if *user != "" {
			u, err := a.store.UserByUsername(ctx, *user)
			if err != nil {
				return publicError(err)
			}
			users = []*gatehouse.User{u}
		} else if users, err = allUsers(ctx, a.store); err != nil {
			return err
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tUSER\tNAME\tPREFIX\tSCOPES\tACTIVE\tCREATED\tEXPIRES\tLAST USED")
		for _, u := range users {
			keys, err := a.auth.ListAPIKeys(ctx, u.ID)
			if err != nil {
				return err
			}
			for _, k := range keys {
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%v\t%s\t%s\t%s\n", k.ID, u.Username, strconv.Quote(k.Name),
					apikey.Prefix+k.LookupID, strings.ReplaceAll(k.Scope, " ", ","), k.Active,
					rfc3339(k.CreatedAt), rfc3339(k.ExpiresAt), rfc3339(k.LastUsedAt))
			}
		}
		w.Flush()
	case "revoke":
		if err := a.auth.DeactivateAPIKey(ctx, id, 0); err != nil {
			return publicError(err)
		}
		fmt.Fprintf(stdout, "revoked API key %d\n", id)
	}
	return nil
}

// allUsers reads every user, in pages.
func allUsers(ctx context.Context, store gatehouse.UserStore) ([]*gatehouse.User, error) {
	var all []*gatehouse.User
	var after int64
	for {
		page, err := store.ListUsers(ctx, after, 500)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if len(page) < 500 {
			return all, nil
		}
		after = page[len(page)-1].ID
	}
}

// rfc3339 formats t, or "-" for the zero time (never).
func rfc3339(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
