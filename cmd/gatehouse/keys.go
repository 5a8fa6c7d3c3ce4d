package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/gatehouse/gatehouse/keys"
	"github.com/gatehouse/gatehouse/token"
)

const keysUsage = `usage:
  gatehouse keys list [--json]
  gatehouse keys rotate [--alg RS256|ES256|EdDSA] [--now]

list shows every stored signing key: its id (kid), algorithm, state (next:
published, not signing yet; current: signing; retired: verifying until its
tokens have expired) and dates.

rotate makes each next key current, retires the current one and publishes a
new next key: running servers sign with the new key within 10 seconds and
keep accepting the old key's tokens until they expire. A next key signs
only once it has been published for GATEHOUSE_JWKS_MAX_AGE + 10 s, so that
no client's cached key set lacks it; before then rotate refuses and says
when it may run. --now rotates anyway — for a key that leaked: clients
that cached the key set refuse the new tokens until they fetch it again.
These commands open the database as serve does (the same encryption key).`

// keysCommand runs `gatehouse keys list|rotate`.
func keysCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	sub, err := subcommand(args, keysUsage, stderr)
	if sub == "" {
		return err
	}
	if sub != "list" && sub != "rotate" {
		fmt.Fprintln(stderr, keysUsage)
		return &configError{env: "command", err: fmt.Errorf("unknown keys subcommand %q", sub)}
	}
	s := newSettings("keys "+sub, keysUsage)
	s.fs.SetOutput(stderr)
	sf := addStoreFlags(s)
	kf := addSigningFlags(s)
	asJSON := s.fs.Bool("json", false, "list: one JSON object per key")
	alg := s.fs.String("alg", "", "rotate: only the keys of this algorithm; default: every configured one")
	now := s.fs.Bool("now", false, "rotate: promote the next key even if clients may not have fetched it yet (a leaked key)")
	pos, err := s.parseInterleaved(args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		fmt.Fprintln(stderr, keysUsage)
		return &configError{env: "arguments", err: fmt.Errorf("keys %s takes no arguments, got %q", sub, pos)}
	}
	c, err := sf.parse()
	if err != nil {
		return err
	}
	if err := kf.parse(&c); err != nil {
		return err
	}
	if *alg != "" && *alg != token.RS256 && *alg != c.signing.alg || *alg == token.HS256 {
		return &configError{env: "--alg", err: fmt.Errorf("%q: the keys kept are RS256 and GATEHOUSE_SIGNING_ALG's, if asymmetric (%s)", *alg, c.signing.alg)}
	}
	c.sealing = sealStrict // the sealer serve uses: the keys are sealed under it
	c.signing.load = sub == "rotate"
	a, err := openApp(ctx, c, newLogger(stderr, "warn"), cluster{})
	if err != nil {
		return err
	}
	defer a.Close()

	if sub == "rotate" {
		err := a.keys.Rotate(ctx, *alg, *now)
		var soon *keys.TooSoonError
		if errors.As(err, &soon) {
			fmt.Fprintf(stderr, "not rotated: the next %s key %s was published at %s; clients may hold a cached key set without it until %s.\n"+
				"Run again then, or with --now if the current key must stop signing at once (clients that cached the set refuse new tokens until they fetch it again).\n",
				soon.Algorithm, soon.Next, soon.Published.UTC().Format(time.RFC3339), soon.At.UTC().Format(time.RFC3339))
			return errors.New("keys rotate: refused, the next key is too new")
		}
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, "rotated; running servers sign with the new key within 10 seconds")
	}
	list, err := a.keys.List(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, k := range list {
			if err := enc.Encode(k); err != nil {
				return err
			}
		}
		return nil
	}
	date := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED\tSIGNING FROM\tSIGNING UNTIL\tPUBLISHED UNTIL\tPROMOTABLE FROM")
	for _, k := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Algorithm, k.State, date(k.CreatedAt), date(k.ActivatedAt),
			date(k.RetiredAt), date(k.RetireUntil), date(k.Promotable))
	}
	return tw.Flush()
}
