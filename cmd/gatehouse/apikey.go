package main

import (
	"context"
	"errors"
	"io"
)

// apikeyCommand runs `gatehouse apikey create|list|revoke`.
func apikeyCommand(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return &configError{env: "command", err: errors.New("apikey: not available yet")}
}
