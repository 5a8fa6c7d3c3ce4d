//go:build unix

package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/sqlite"
)

// The database file and its -wal and -shm companions hold the JWT signing
// key and the API-key pepper, so after Open each is readable and writable by
// the owner only, whatever the umask or the modes they were found with.
func TestOpenLeavesDatabaseFilesOwnerOnly(t *testing.T) {
	// The common umask, under which the driver alone would create 0644
	// files; restored when the test ends.
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })

	tests := []struct {
		name    string
		prepare func(t *testing.T, path string)
	}{
		{"a new database is created 0600 and so are its -wal and -shm", func(t *testing.T, path string) {}},
		{"an existing 0644 database is tightened to 0600", func(t *testing.T, path string) {
			db := openAndWrite(t, path, "before")
			db.Close()
			chmod(t, 0o644, path)
		}},
		{"0644 -wal and -shm files beside the database are tightened to 0600", func(t *testing.T, path string) {
			// Held open so the -wal, with its frames, and the -shm stay
			// behind for the next Open, as they would after a crash.
			db := openAndWrite(t, path, "before")
			t.Cleanup(func() { db.Close() })
			chmod(t, 0o644, path, path+"-wal", path+"-shm")
		}},
		{"group-only access is removed too", func(t *testing.T, path string) {
			db := openAndWrite(t, path, "before")
			t.Cleanup(func() { db.Close() })
			chmod(t, 0o640, path, path+"-wal", path+"-shm")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "g.db")
			tt.prepare(t, path)
			db := openAndWrite(t, path, "after")
			defer db.Close()
			for _, name := range []string{path, path + "-wal", path + "-shm"} {
				fi, err := os.Stat(name)
				if err != nil {
					t.Fatalf("stat %s: %v", filepath.Base(name), err)
				}
				if got := fi.Mode() & 0o777; got != 0o600 {
					t.Errorf("%s mode = %#o, want 0600", filepath.Base(name), got)
				}
			}
		})
	}
}

// openAndWrite opens the database at path and creates a user in it, so the
// -wal and -shm files exist while it stays open.
func openAndWrite(t *testing.T, path, username string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateUser(context.Background(), &gatehouse.User{Username: username, PasswordHash: "h", Role: gatehouse.RoleUser}); err != nil {
		db.Close()
		t.Fatal(err)
	}
	return db
}

func chmod(t *testing.T, mode os.FileMode, names ...string) {
	t.Helper()
	for _, name := range names {
		if err := os.Chmod(name, mode); err != nil {
			t.Fatalf("chmod %#o %s: %v", mode, filepath.Base(name), err)
		}
	}
}
