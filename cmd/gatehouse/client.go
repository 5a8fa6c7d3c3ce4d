package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/oauth"
)

const clientUsage = `usage:
  gatehouse client create NAME --redirect-uri URI [--redirect-uri URI…]
        [--post-logout-redirect-uri URI…] [--public] [--first-party]
        [--grant G…] [--scope S…] [--id-token-alg A] [--json]
  gatehouse client list [--json]
  gatehouse client delete ID
  gatehouse client rotate-secret ID [--overlap 24h] [--json]

create registers an OAuth 2.1 / OpenID Connect client and prints
"client_id: …" and, for a confidential client, "client_secret: …" — shown
this once, the database keeps only a hash — or one JSON object with
--json. Redirect URIs are https, or http to a loopback address (any port
is then accepted). --grant may repeat and replaces the default
(authorization_code and refresh_token): client_credentials is granted
explicitly, and needs no redirect URI. --scope may repeat (or list several
at once); without it the client may ask for every scope. --public: no
secret (a SPA, mobile app or CLI; PKCE protects it). --first-party: no
consent page.

delete also ends every session opened for the client, on a running server
within a second. rotate-secret prints a new secret; the old one keeps
working for --overlap (0: ends now).`

// listFlag collects a flag that may repeat.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, " ") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// words splits each value on spaces and commas: "--scope openid,profile"
// and "--scope 'openid profile'" both name two scopes.
func (l listFlag) words() []string {
	var out []string
	for _, v := range l {
		out = append(out, strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' })...)
	}
	return out
}

// clientCommand runs `gatehouse client create|list|delete|rotate-secret`.
func clientCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	sub, err := subcommand(args, clientUsage, stderr)
	if sub == "" {
		return err
	}
	s := newSettings("client "+sub, clientUsage)
	s.fs.SetOutput(stderr)
	sf := addStoreFlags(s)
	var redirects, logouts, grants, scopes listFlag
	s.fs.Var(&redirects, "redirect-uri", "a redirect URI (repeat for more)")
	s.fs.Var(&logouts, "post-logout-redirect-uri", "where RP-initiated logout may return (repeat for more)")
	s.fs.Var(&grants, "grant", "a grant: authorization_code, refresh_token, client_credentials (repeat for more)")
	s.fs.Var(&scopes, "scope", "a scope the client may ask for (repeat for more); default: every scope")
	public := s.fs.Bool("public", false, "a public client: no secret")
	firstParty := s.fs.Bool("first-party", false, "trusted: no consent page")
	alg := s.fs.String("id-token-alg", "", "ID token algorithm: RS256 (default), ES256 or EdDSA")
	overlap := s.fs.Duration("overlap", oauth.ClientSecretOverlap, "how long the old secret keeps working (rotate-secret)")
	asJSON := s.fs.Bool("json", false, "print JSON")
	pos, err := s.parseInterleaved(args[1:]) // flags may follow NAME or ID
	if err != nil {
		return err
	}
	want := map[string]int{"create": 1, "list": 0, "delete": 1, "rotate-secret": 1}
	n, ok := want[sub]
	if !ok {
		fmt.Fprintln(stderr, clientUsage)
		return &configError{env: "command", err: fmt.Errorf("unknown client subcommand %q", sub)}
	}
	if len(pos) != n {
		fmt.Fprintln(stderr, clientUsage)
		return &configError{env: "arguments", err: fmt.Errorf("client %s takes %d argument(s), got %d", sub, n, len(pos))}
	}
	if sub == "rotate-secret" && (*overlap < 0 || *overlap > oauth.ClientSecretOverlapMax) {
		return &configError{env: "arguments", err: fmt.Errorf("--overlap %s is not within 0 and %s", *overlap, oauth.ClientSecretOverlapMax)}
	}
	a, err := sf.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	m := oauth.NewClientManager(oauth.ClientManagerConfig{Store: a.store, Auth: a.auth, Auditor: a.audit})

	switch sub {
	case "create":
		var g []string // nil: the default grants
		if len(grants) > 0 {
			g = grants.words()
		}
		c, secret, err := m.Create(ctx, oauth.ClientSpec{Name: pos[0], RedirectURIs: redirects, PostLogoutRedirectURIs: logouts,
			Public: *public, FirstParty: *firstParty, Grants: g, Scopes: scopes.words(), IDTokenAlg: *alg})
		if err != nil {
			return clientError(err)
		}
		return printIssued(stdout, stderr, c, secret, *asJSON)
	case "list":
		return listClients(ctx, m, stdout, *asJSON)
	case "delete":
		ended, err := m.Delete(ctx, pos[0])
		if err != nil {
			return clientError(err)
		}
		fmt.Fprintf(stdout, "deleted client %s; %d session(s) ended\n", pos[0], ended)
	case "rotate-secret":
		c, secret, err := m.RotateSecret(ctx, pos[0], *overlap)
		if err != nil {
			return clientError(err)
		}
		return printIssued(stdout, stderr, c, secret, *asJSON)
	}
	return nil
}

// printIssued prints a client's id and just-issued secret: as
// "client_id: …" and "client_secret: …" lines on stdout (contract §13),
// the rest on stderr, or all of it as one JSON object.
func printIssued(stdout, stderr io.Writer, c *gatehouse.OAuthClient, secret string, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(stdout).Encode(oauth.NewClientInfo(c, secret))
	}
	kind := "confidential"
	if c.Public {
		kind = "public"
	}
	fmt.Fprintf(stderr, "client %q (%s), grants %s; redirect URIs: %s\n", c.Name, kind, strings.Join(c.Grants, " "),
		orNone(c.RedirectURIs))
	if secret != "" {
		fmt.Fprintln(stderr, "the secret is shown only this once; the database keeps a hash")
	}
	fmt.Fprintf(stdout, "client_id: %s\n", c.ID)
	if secret != "" {
		fmt.Fprintf(stdout, "client_secret: %s\n", secret)
	}
	return nil
}

func orNone(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, " ")
}

// listClients prints every client, in pages from the store.
func listClients(ctx context.Context, m *oauth.ClientManager, stdout io.Writer, asJSON bool) error {
	var all []*gatehouse.OAuthClient
	after := ""
	for {
		page, err := m.List(ctx, after, 500)
		if err != nil {
			return err
		}
		all = append(all, page...)
		if len(page) < 500 {
			break
		}
		after = page[len(page)-1].ID
	}
	if asJSON {
		out := make([]oauth.ClientInfo, len(all))
		for i, c := range all {
			out[i] = oauth.NewClientInfo(c, "")
		}
		return json.NewEncoder(stdout).Encode(out)
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "CLIENT_ID\tNAME\tTYPE\tFIRST_PARTY\tGRANTS\tSCOPES\tREDIRECT_URIS\tCREATED")
	for _, c := range all {
		kind := "confidential"
		if c.Public {
			kind = "public"
		}
		scopes := "all"
		if len(c.Scopes) > 0 {
			scopes = strings.Join(c.Scopes, ",")
		}
		fmt.Fprintf(w, "%s\t%q\t%s\t%v\t%s\t%s\t%s\t%s\n", c.ID, c.Name, kind, c.FirstParty, strings.Join(c.Grants, ","),
			scopes, strings.Join(c.RedirectURIs, ","), rfc3339(c.CreatedAt))
	}
	return w.Flush()
}

// clientFlags names the flag behind each field of a registration.
var clientFlags = map[string]string{
	"name": "NAME", "redirect_uris": "--redirect-uri", "post_logout_redirect_uris": "--post-logout-redirect-uri",
	"grants": "--grant", "scopes": "--scope", "id_token_alg": "--id-token-alg", "overlap_seconds": "--overlap",
}

// clientError words a refusal for the command line, naming the flag at
// fault rather than the API's field.
func clientError(err error) error {
	var e *gatehouse.Error
	if errors.As(err, &e) && len(e.Fields) > 0 && len(e.Fields[0].Loc) > 1 {
		if f, ok := clientFlags[e.Fields[0].Loc[1]]; ok {
			return fmt.Errorf("%s: %s", f, e.Fields[0].Msg)
		}
	}
	return publicError(err)
}
