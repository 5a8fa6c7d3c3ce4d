package main

import (
	"os"
	"slices"
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

// A hash worker gets none of the server's environment: its secrets stay in
// the server's process.
func TestHashWorkersGetNoneOfTheServersEnvironment(t *testing.T) {
	t.Setenv("GATEHOUSE_SECRET_KEY", "a-secret-the-worker-must-not-see-0123456789")
	t.Setenv("GATEHOUSE_ENCRYPTION_KEY", "another-secret-0123456789abcdef0123456789")
	cmd := hashWorkerCmd("/proc/self/exe")
	if !slices.Equal(cmd.Env, []string{"GOMAXPROCS=1"}) {
		t.Fatalf("worker environment %q", cmd.Env)
	}
	if len(cmd.Args) != 2 || cmd.Args[1] != hashWorkerCommand {
		t.Fatalf("worker command %q", cmd.Args)
	}
}
