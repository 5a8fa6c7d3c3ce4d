package postgres_test

import (
	"testing"

	"github.com/gatehouse/gatehouse/storetest"
)

func BenchmarkOAuthCodeRoundTrip(b *testing.B) { storetest.BenchOAuthCodeRoundTrip(b, openDB(b)) }
