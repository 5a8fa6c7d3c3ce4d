package main

import (
	"os"
	"testing"

	"github.com/gatehouse/gatehouse/password"
)

// TestMain lets this test binary be the hash worker that serve starts
// (os.Executable is the test binary here), as the real binary is.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == hashWorkerCommand {
		if err := password.ServeWorker(os.Stdin, os.Stdout, password.NewHasher(password.DefaultParams())); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
