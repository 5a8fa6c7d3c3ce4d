package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/gatehouse/gatehouse/sqlite"
	"github.com/gatehouse/gatehouse/storetest"
)

func BenchmarkOAuthCodeRoundTrip(b *testing.B) {
	db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	storetest.BenchOAuthCodeRoundTrip(b, db)
}
