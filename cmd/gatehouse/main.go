// Command gatehouse is the Gatehouse authentication server and its admin
// CLI: serve, user, apikey, client, audit, keys, reseal, migrate, version.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/password"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `gatehouse — authentication and security server

usage:
  gatehouse serve                 run the server (GATEHOUSE_ADDR, default 127.0.0.1:8000)
  gatehouse user create NAME [--role R] [--email E] [--full-name F] [--password-stdin]
  gatehouse user list
  gatehouse user set-role NAME ROLE
  gatehouse user disable|enable|delete NAME
  gatehouse user set-password NAME [--password-stdin]
  gatehouse user reset-2fa NAME
  gatehouse apikey create --user NAME --name NAME [--scopes S] [--expires-at T]
  gatehouse apikey list [--user NAME]
  gatehouse apikey revoke ID
  gatehouse client create NAME --redirect-uri URI [--redirect-uri URI…] [--post-logout-redirect-uri URI…]
                  [--public] [--first-party] [--grant G…] [--scope S…] [--json]
  gatehouse client list [--json]
  gatehouse client delete ID
  gatehouse client rotate-secret ID [--overlap 24h]
  gatehouse audit [--user NAME] [--type T] [--since T] [--until T] [--limit N]
  gatehouse keys list [--json]    the signing keys: id, algorithm, state, dates
  gatehouse keys rotate [--alg A] [--now]
  gatehouse reseal                re-encrypt TOTP secrets and signing keys under the current encryption key
  gatehouse migrate               apply database migrations and exit
  gatehouse version

Every setting is a flag and a GATEHOUSE_* environment variable; run
'gatehouse COMMAND --help' to list them.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "gatehouse:", err)
	}
	os.Exit(exitCode(err))
}

// run dispatches a command line. It is main without the process: tests
// call it directly.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return &configError{env: "command", err: errors.New("missing command")}
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stdout, stderr)
	case "user":
		return userCommand(ctx, args[1:], stdin, stdout, stderr)
	case "apikey":
		return apikeyCommand(ctx, args[1:], stdin, stdout, stderr)
	case "client":
		return clientCommand(ctx, args[1:], stdout, stderr)
	case "audit":
		return auditCommand(ctx, args[1:], stdout, stderr)
	case "migrate":
		return migrate(ctx, args[1:], stdout, stderr)
	case "reseal":
		return reseal(ctx, args[1:], stdout, stderr)
	case "keys":
		return keysCommand(ctx, args[1:], stdout, stderr)
	case hashWorkerCommand: // not in the usage: the server starts it (GATEHOUSE_HASH_NICE)
		return password.ServeWorker(stdin, stdout, password.NewHasher(password.DefaultParams()))
	case "version", "--version":
		fmt.Fprintln(stdout, "gatehouse", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return &configError{env: "command", err: fmt.Errorf("unknown command %q", args[0])}
}

// withStore parses a command that takes only the store settings, opens
// the app and runs fn with it.
func withStore(ctx context.Context, name, summary string, mode sealingMode, args []string, stderr io.Writer, fn func(*app) error) error {
	s := newSettings(name, summary)
	s.fs.SetOutput(stderr)
	sf := addStoreFlags(s)
	if err := s.fs.Parse(args); err != nil {
		return err
	}
	a, err := sf.openAs(ctx, stderr, mode)
	if err != nil {
		return err
	}
	defer a.Close()
	return fn(a)
}

// migrate applies the migrations (openApp does) and exits.
func migrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return withStore(ctx, "migrate", "Apply the embedded database migrations and exit.", sealNone, args, stderr, func(*app) error {
		fmt.Fprintln(stdout, "migrations applied")
		return nil
	})
}

// reseal re-encrypts every TOTP secret still sealed under an older key —
// one of GATEHOUSE_PREVIOUS_ENCRYPTION_KEYS, a key file moved off, or a
// key derived from a signing key as before the sealing key stopped
// depending on it — with the current key, the last step of a rotation and
// of the upgrade (see the README). Once no enabled secret is left under
// another key, it records the current key as the database's and retires
// the keys derived from signing keys. Secrets under a key it does not hold
// are named; their users need that key back or their 2FA reset.
func reseal(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return withStore(ctx, "reseal", "Re-encrypt TOTP secrets sealed under a previous encryption key with the current one.", sealAdopt, args, stderr,
		func(a *app) error {
			n, err := a.auth.ResealTOTPSecrets(ctx)
			fmt.Fprintf(stdout, "%d TOTP secrets resealed under the current key\n", n)
			var ue *auth.UnreadableSecretsError
			if errors.As(err, &ue) {
				return unreadableSecrets(ctx, a, ue)
			}
			if err != nil {
				return err
			}
			// Signing keys too, before the old encryption key is dropped
			// (contract §10: no rotation makes a sealed secret unreadable).
			nk, err := a.keys.Reseal(ctx)
			fmt.Fprintf(stdout, "%d signing keys resealed under the current key\n", nk)
			if err != nil {
				return err
			}
			if err := a.sealing.adopt(ctx, a.store); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "every enabled TOTP secret is under key %s (%s)\n", a.sealing.sealer.KeyID(), a.sealing.source)
			return nil
		})
}

// unreadableSecrets explains which users' secrets reseal could not open.
func unreadableSecrets(ctx context.Context, a *app, ue *auth.UnreadableSecretsError) error {
	var names []string
	for _, id := range ue.UserIDs {
		if u, err := a.store.UserByID(ctx, id); err == nil {
			names = append(names, u.Username)
		} else {
			names = append(names, fmt.Sprint("#", id))
		}
	}
	more := ""
	if ue.Count > len(names) {
		more = fmt.Sprintf(" and %d more", ue.Count-len(names))
	}
	return bad("GATEHOUSE_PREVIOUS_ENCRYPTION_KEYS", "the TOTP secrets of %d users are sealed under a key this instance does not hold "+
		"(recorded key %s; users %s%s): give that key in GATEHOUSE_PREVIOUS_ENCRYPTION_KEYS, or, if it is lost, "+
		"reset their 2FA (gatehouse user reset-2fa NAME) and run gatehouse reseal again", ue.Count, a.sealing.recorded,
		strings.Join(names, ", "), more)
}
