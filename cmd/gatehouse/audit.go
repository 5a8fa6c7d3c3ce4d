package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/httpapi"
)

// auditMaxLimit is the most events one `gatehouse audit` shows; the API
// pages by 200, a terminal may want more at once.
const auditMaxLimit = 10_000

// auditCommand runs `gatehouse audit`: the audit log, newest first, with
// the filters and the event fields of GET /audit.
func auditCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	s := newSettings("audit", "Show the audit log, newest first.")
	s.fs.SetOutput(stderr)
	sf := addStoreFlags(s)
	user := s.fs.String("user", "", "only events of this user (a username, or a user id)")
	typ := s.fs.String("type", "", "only events of this type (login, refresh_reuse, permission_refused, …)")
	since := s.fs.String("since", "", "only events at or after this time (RFC 3339)")
	until := s.fs.String("until", "", "only events before this time (RFC 3339)")
	limit := s.fs.Int("limit", 50, "how many events to show (1 to 10000)")
	asJSON := s.fs.Bool("json", false, "print one JSON object per line, as GET /audit shows events")
	if err := s.fs.Parse(args); err != nil {
		return err
	}
	if s.fs.NArg() > 0 {
		return bad("arguments", "audit takes no arguments (got %q)", s.fs.Args())
	}
	f := gatehouse.AuditFilter{Type: *typ, Limit: *limit}
	if f.Limit < 1 || f.Limit > auditMaxLimit {
		return bad("--limit", "%d is not from 1 to %d", f.Limit, auditMaxLimit)
	}
	var err error
	if f.Since, err = parseTime("--since", *since); err != nil {
		return err
	}
	if f.Until, err = parseTime("--until", *until); err != nil {
		return err
	}
	a, err := sf.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer a.Close()

	if *user != "" {
		if f.UserID, err = auditUserID(ctx, a.store, *user); err != nil {
			return err
		}
	}
	events, err := a.store.AuditEvents(ctx, f)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	entries, err := httpapi.AuditEntries(ctx, a.store, events)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, e := range entries {
			if err := enc.Encode(e); err != nil {
				return err
			}
		}
		return nil
	}
	return printAudit(stdout, entries)
}

// auditUserID resolves --user as GET /audit resolves ?user=: a username
// first, then a numeric id (a deleted user's events keep only the id).
func auditUserID(ctx context.Context, users gatehouse.UserStore, v string) (int64, error) {
	u, err := users.UserByUsername(ctx, v)
	if err == nil {
		return u.ID, nil
	}
	if gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
		return 0, fmt.Errorf("audit: %w", err)
	}
	if id, err := strconv.ParseInt(v, 10, 64); err == nil && id > 0 {
		return id, nil
	}
	return 0, bad("--user", "no user %s", strconv.Quote(v))
}

func parseTime(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return t, bad(name, "%q is not an RFC 3339 time (2026-01-02T15:04:05Z)", v)
	}
	return t, nil
}

// printAudit writes entries as a table. Usernames, user agents and details
// can come from anyone (a failed login records the name as typed), so
// every field is made printable first: no escape sequence reaches the
// admin's terminal.
func printAudit(w io.Writer, entries []httpapi.AuditEntry) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTIME\tTYPE\tOUTCOME\tCOUNT\tUSER\tCLIENT IP\tPATH\tREQUEST ID\tDETAIL")
	for _, e := range entries {
		user := "-"
		switch {
		case e.Username != nil && e.UserID != nil:
			user = fmt.Sprintf("%s (%d)", *e.Username, *e.UserID)
		case e.Username != nil:
			user = *e.Username
		case e.UserID != nil:
			user = fmt.Sprintf("#%d", *e.UserID)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.Time.Format(time.RFC3339),
			printable(e.Type), printable(e.Outcome), e.Count, printable(user), orDash(printable(e.ClientIP)),
			orDash(printable(e.Path)), orDash(printable(e.RequestID)), printable(e.Detail))
	}
	return tw.Flush()
}

// printable quotes s when it holds a character that is not graphic
// (controls, tabs, line breaks, bidi overrides), so they show as escapes.
func printable(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return !unicode.IsGraphic(r) }) < 0 {
		return s
	}
	return strconv.QuoteToGraphic(s)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// purgeAudit deletes the audit events older than retention at now.
func purgeAudit(ctx context.Context, store gatehouse.AuditStore, now time.Time, retention time.Duration, log *slog.Logger) {
	n, err := store.PurgeAudit(ctx, now.Add(-retention))
	if err != nil {
		log.ErrorContext(ctx, "audit purge failed", "err", err)
		return
	}
	if n > 0 {
		log.InfoContext(ctx, "audit events purged", "count", n, "retention", retention.String())
	}
}

// runAuditPurger applies the retention (GATEHOUSE_AUDIT_RETENTION) at once
// and then hourly, until ctx ends.
func runAuditPurger(ctx context.Context, store gatehouse.AuditStore, retention time.Duration, log *slog.Logger) {
	purgeAudit(ctx, store, time.Now(), retention, log)
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			purgeAudit(ctx, store, now, retention, log)
		}
	}
}
