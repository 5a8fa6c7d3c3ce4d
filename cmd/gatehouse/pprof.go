//go:build pprof

package main

// Built only with -tags pprof: the profiler on a loopback port of its own
// (GATEHOUSE_PPROF_ADDR, default 127.0.0.1:6060), never in the default
// binary and never on the API's listener.
//
//	go build -tags pprof -o gatehouse ./cmd/gatehouse
//	go tool pprof -seconds 10 http://127.0.0.1:6060/debug/pprof/profile

import (
	"log/slog"
	"net/http"
	_ "net/http/pprof" // registers on http.DefaultServeMux, which only this listener serves
	"os"
)

// startProfiler serves the profiler; serve calls it, and nothing else
// does: not the CLI's commands, nor the hash workers, which hold passwords.
func startProfiler() {
	addr := os.Getenv("GATEHOUSE_PPROF_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6060"
	}
	go func() {
		if err := http.ListenAndServe(addr, nil); err != nil {
			slog.Warn("pprof listener", "err", err)
		}
	}()
}
