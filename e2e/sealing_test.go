package e2e

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Issue 9 finding 2, the case the database check exists for: two
// instances of one PostgreSQL database, each in its own directory with no
// GATEHOUSE_ENCRYPTION_KEY, so each would make a key file of its own. The
// second is refused at start with one line naming the setting, instead of
// answering 500 at the 2FA logins of users enrolled on the first. With a
// copy of the first's key file it starts.
func TestASecondInstanceWithoutTheFirstsKeyIsRefusedAtStart(t *testing.T) {
	c := newCluster(t)
	dirA, dirB := t.TempDir(), t.TempDir()
	// command is serve in dir, with its base URL.
	command := func(ctx context.Context, dir string) (*exec.Cmd, string) {
		addr := freeAddr(t)
		cmd := exec.CommandContext(ctx, binary, "serve")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(),
			"GATEHOUSE_ADDR="+addr,
			"GATEHOUSE_DATABASE_URL="+c.dbURL,
			"GATEHOUSE_SECRET_KEY="+c.secret,
			"GATEHOUSE_ADMIN_PASSWORD=e2e-admin-password-1",
			"GATEHOUSE_ENCRYPTION_KEY=", "GATEHOUSE_ENCRYPTION_KEY_FILE=", "GATEHOUSE_REDIS_URL=",
		)
		return cmd, "http://" + addr
	}
	startIn := func(dir string) {
		t.Helper()
		cmd, base := command(context.Background(), dir)
		logs := &lockedBuffer{}
		cmd.Stdout, cmd.Stderr = io.Discard, logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if res, err := http.Get(base + "/health"); err == nil {
				res.Body.Close()
				return
			}
		}
		t.Fatalf("instance in %s did not start: %s", dir, logs.String())
	}

	startIn(dirA)
	if _, err := os.Stat(filepath.Join(dirA, "gatehouse.key")); err != nil {
		t.Fatalf("the first instance made no key file: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd, _ := command(ctx, dirB)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("the second instance: %v (want exit status 2); stderr:\n%s", err, stderr.String())
	}
	line := strings.TrimSpace(stderr.String())
	if strings.Contains(line, "\n") || !strings.Contains(line, "GATEHOUSE_ENCRYPTION_KEY") || !strings.Contains(line, "gatehouse.key") {
		t.Fatalf("the second instance's error is not one line naming the setting and the file:\n%s", stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dirB, "gatehouse.key")); err == nil {
		t.Fatal("the refused instance made a key file of its own")
	}

	key, err := os.ReadFile(filepath.Join(dirA, "gatehouse.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dirB, "gatehouse.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	startIn(dirB)
}
