package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// setting is one configuration value: a flag of the command and a
// GATEHOUSE_* environment variable, the flag winning.
type setting struct {
	flag, env, def, usage string
	value                 *string
}

// settings binds settings to a flag set, their defaults taken from the
// environment, and remembers them for validation and help.
type settings struct {
	fs   *flag.FlagSet
	list []*setting
}

func newSettings(name, summary string) *settings {
	s := &settings{fs: flag.NewFlagSet(name, flag.ContinueOnError)}
	s.fs.Usage = func() {
		out := s.fs.Output()
		fmt.Fprintf(out, "usage: gatehouse %s\n\n%s\n\nflags (each also read from its environment variable):\n", name, summary)
		for _, st := range s.list {
			def := st.def
			if def == "" {
				def = "(empty)"
			}
			fmt.Fprintf(out, "  --%-22s %-32s %s [default %s]\n", st.flag, st.env, st.usage, def)
		}
		s.fs.VisitAll(func(f *flag.Flag) {
			if !s.known(f.Name) {
				fmt.Fprintf(out, "  --%-22s %-32s %s\n", f.Name, "", f.Usage)
			}
		})
	}
	return s
}

func (s *settings) known(name string) bool {
	for _, st := range s.list {
		if st.flag == name {
			return true
		}
	}
	return false
}

// subcommand returns the subcommand named by args[0]. With none, it prints
// usage and returns "" and a configuration error; for --help, "" and nil.
func subcommand(args []string, usage string, stderr io.Writer) (string, error) {
	if len(args) > 0 && args[0] != "--help" && args[0] != "-h" {
		return args[0], nil
	}
	fmt.Fprintln(stderr, usage)
	if len(args) == 0 {
		return "", &configError{env: "command", err: errors.New("missing subcommand")}
	}
	return "", nil
}

// parseInterleaved parses args whose flags may stand before, between or
// after the positional arguments, and returns the positional ones.
func (s *settings) parseInterleaved(args []string) ([]string, error) {
	var pos []string
	for {
		if err := s.fs.Parse(args); err != nil {
			return nil, err
		}
		if s.fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, s.fs.Arg(0))
		args = s.fs.Args()[1:]
	}
}

// add declares a setting.
func (s *settings) add(flagName, env, def, usage string) *string {
	v := def
	if e, ok := os.LookupEnv(env); ok {
		v = e
	}
	st := &setting{flag: flagName, env: env, def: def, usage: usage, value: new(string)}
	s.fs.StringVar(st.value, flagName, v, usage)
	s.list = append(s.list, st)
	return st.value
}

// configError names the setting a bad value belongs to; main prints it as
// one line and exits with status 2.
type configError struct {
	env string
	err error
}

func (e *configError) Error() string { return fmt.Sprintf("invalid %s: %v", e.env, e.err) }

func bad(env string, format string, args ...any) error {
	return &configError{env: env, err: fmt.Errorf(format, args...)}
}

func parseDuration(env, v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, bad(env, "%q is not a positive duration (e.g. 15m, 168h)", v)
	}
	return d, nil
}

func parseBool(env, v string) (bool, error) {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, bad(env, "%q is not true or false", v)
	}
	return b, nil
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// databaseURL is a parsed GATEHOUSE_DATABASE_URL.
type databaseURL struct {
	driver string // "sqlite" or "postgres"
	dsn    string // file path for sqlite, the URL for postgres
}

func parseDatabaseURL(v string) (databaseURL, error) {
	const env = "GATEHOUSE_DATABASE_URL"
	switch {
	case strings.HasPrefix(v, "sqlite://"):
		return databaseURL{"sqlite", strings.TrimPrefix(v, "sqlite://")}, nonEmptyPath(env, strings.TrimPrefix(v, "sqlite://"))
	case strings.HasPrefix(v, "sqlite:"):
		return databaseURL{"sqlite", strings.TrimPrefix(v, "sqlite:")}, nonEmptyPath(env, strings.TrimPrefix(v, "sqlite:"))
	case strings.HasPrefix(v, "postgres://"), strings.HasPrefix(v, "postgresql://"):
		if _, err := url.Parse(v); err != nil {
			return databaseURL{}, bad(env, "unparsable URL")
		}
		return databaseURL{"postgres", v}, nil
	}
	return databaseURL{}, bad(env, "must start with sqlite: or postgres://")
}

func nonEmptyPath(env, p string) error {
	if p == "" || p == ":memory:" {
		return bad(env, "sqlite needs a file path, e.g. sqlite:gatehouse.db")
	}
	return nil
}

func validateAddr(env, v string) error {
	if _, _, err := net.SplitHostPort(v); err != nil {
		return bad(env, "%q is not host:port", v)
	}
	return nil
}

// exitCode tells main how a command failed.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ce *configError
	if errors.As(err, &ce) {
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 1
}
