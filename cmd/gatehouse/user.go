package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/auth"
	"golang.org/x/term"
)

const userUsage = `usage:
  gatehouse user create NAME [--role user|moderator|admin] [--email E] [--full-name F] [--password-stdin]
  gatehouse user list
  gatehouse user set-role NAME ROLE
  gatehouse user disable NAME
  gatehouse user enable NAME
  gatehouse user delete NAME
  gatehouse user set-password NAME [--password-stdin]
  gatehouse user reset-2fa NAME

Passwords are read from standard input (--password-stdin) or a prompt,
never from the command line, where other users could see them.`

// userCommand runs `gatehouse user …`. Changes reach a running server
// within a second through the store's change feed.
func userCommand(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	sub, err := subcommand(args, userUsage, stderr)
	if sub == "" {
		return err
	}
	s := newSettings("user "+sub, userUsage)
	s.fs.SetOutput(stderr)
	sf := addStoreFlags(s)
	role := s.fs.String("role", "user", "role of a new user: user, moderator or admin")
	email := s.fs.String("email", "", "email of a new user")
	fullName := s.fs.String("full-name", "", "full name of a new user")
	fromStdin := s.fs.Bool("password-stdin", false, "read the password from standard input (one line)")
	pos, err := s.parseInterleaved(args[1:]) // flags may come before or after NAME
	if err != nil {
		return err
	}
	want := map[string]int{"create": 1, "list": 0, "set-role": 2, "disable": 1, "enable": 1, "delete": 1, "set-password": 1, "reset-2fa": 1}
	n, ok := want[sub]
	if !ok {
		fmt.Fprintln(stderr, userUsage)
		return &configError{env: "command", err: fmt.Errorf("unknown user subcommand %q", sub)}
	}
	if len(pos) != n {
		fmt.Fprintln(stderr, userUsage)
		return &configError{env: "arguments", err: fmt.Errorf("user %s takes %d argument(s), got %d", sub, n, len(pos))}
	}
	a, err := sf.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer a.Close()

	readPassword := func() (string, error) { return promptPassword(stdin, stderr, *fromStdin) }
	// Every subcommand with a NAME but create acts on an existing user.
	var u *gatehouse.User
	if n > 0 && sub != "create" {
		if u, err = a.store.UserByUsername(ctx, pos[0]); err != nil {
			return publicError(err)
		}
	}
	switch sub {
	case "create":
		pw, err := readPassword()
		if err != nil {
			return err
		}
		u, err = a.auth.CreateUser(ctx, auth.NewUser{Username: pos[0], Password: pw, Email: *email, FullName: *fullName, Role: gatehouse.Role(*role)})
		if err != nil {
			return publicError(err)
		}
		fmt.Fprintf(stdout, "created user %s (id %d, role %s)\n", u.Username, u.ID, u.Role)
	case "list":
		users, err := allUsers(ctx, a.store)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tUSERNAME\tROLE\tDISABLED\tEMAIL\tCREATED")
		for _, user := range users {
			fmt.Fprintf(w, "%d\t%s\t%s\t%v\t%s\t%s\n", user.ID, user.Username, user.Role, user.Disabled, user.Email, rfc3339(user.CreatedAt))
		}
		w.Flush()
	case "set-role", "disable", "enable":
		upd := auth.UserUpdate{Disabled: new(sub == "disable")}
		if sub == "set-role" {
			upd = auth.UserUpdate{Role: new(gatehouse.Role(pos[1]))}
		}
		if u, err = a.auth.UpdateUser(ctx, u.ID, upd); err != nil {
			return publicError(err)
		}
		fmt.Fprintf(stdout, "user %s: role %s, disabled %v\n", u.Username, u.Role, u.Disabled)
	case "delete":
		if err := a.auth.DeleteUser(ctx, u.ID); err != nil {
			return publicError(err)
		}
		fmt.Fprintf(stdout, "deleted user %s\n", u.Username)
	case "reset-2fa":
		if _, err := a.auth.UpdateUser(ctx, u.ID, auth.UserUpdate{TOTPEnabled: new(false)}); err != nil {
			return publicError(err)
		}
		fmt.Fprintf(stdout, "two-factor authentication of %s reset\n", u.Username)
	case "set-password":
		pw, err := readPassword()
		if err != nil {
			return err
		}
		if _, err := a.auth.UpdateUser(ctx, u.ID, auth.UserUpdate{Password: &pw}); err != nil {
			return publicError(err)
		}
		fmt.Fprintf(stdout, "password of %s changed\n", u.Username)
	}
	return nil
}

// publicError turns a domain error into its public message (the cause is
// not for the terminal either: it could hold data).
func publicError(err error) error {
	var e *gatehouse.Error
	if errors.As(err, &e) {
		if len(e.Fields) > 0 { // the first field's own name, not its path
			f := e.Fields[0]
			return fmt.Errorf("%s: %s", f.Loc[len(f.Loc)-1], f.Msg)
		}
		return errors.New(gatehouse.ErrorMessage(err))
	}
	return err
}

// promptPassword reads a password: one line from stdin with --password-stdin
// (the line ending is removed, nothing else), else from the terminal without
// echo, asked twice.
func promptPassword(stdin io.Reader, stderr io.Writer, fromStdin bool) (string, error) {
	if fromStdin {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !(errors.Is(err, io.EOF) && line != "") {
			return "", errors.New("no password on standard input")
		}
		line = strings.TrimSuffix(line, "\n")
		line = strings.TrimSuffix(line, "\r")
		return line, nil
	}
	f, ok := stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", &configError{env: "password", err: errors.New("standard input is not a terminal: use --password-stdin")}
	}
	fmt.Fprint(stderr, "Password: ")
	a, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(stderr)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	fmt.Fprint(stderr, "Again: ")
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(stderr)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	if string(a) != string(b) {
		return "", errors.New("the passwords do not match")
	}
	return string(a), nil
}
