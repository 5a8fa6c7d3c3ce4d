package main

import (
	"context"
	"errors"
	"io"
)

// auditCommand runs `gatehouse audit`: the audit log, newest first.
func auditCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return &configError{env: "command", err: errors.New("audit: not available yet")}
}
