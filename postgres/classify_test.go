package postgres

import (
	"errors"
	"fmt"
	"testing"

	"github.com/gatehouse/gatehouse"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"
)

func TestClassifyBySQLSTATE(t *testing.T) {
	lastAdmin := fmt.Errorf("tx: %w", gatehouse.ErrLastAdmin)
	tests := []struct {
		name string
		err  error
		code string
	}{
		{"unique_violation is a conflict", &pgconn.PgError{Code: "23505"}, gatehouse.ECONFLICT},
		{"connection_failure is unavailable", &pgconn.PgError{Code: "08006"}, gatehouse.EUNAVAILABLE},
		{"too_many_connections is unavailable", &pgconn.PgError{Code: "53300"}, gatehouse.EUNAVAILABLE},
		{"admin_shutdown is unavailable", &pgconn.PgError{Code: "57P01"}, gatehouse.EUNAVAILABLE},
		{"cannot_connect_now is unavailable", &pgconn.PgError{Code: "57P03"}, gatehouse.EUNAVAILABLE},
		{"deadlock_detected is unavailable", &pgconn.PgError{Code: "40P01"}, gatehouse.EUNAVAILABLE},
		{"serialization_failure is unavailable", &pgconn.PgError{Code: "40001"}, gatehouse.EUNAVAILABLE},
		{"a closed pool is unavailable", fmt.Errorf("acquire: %w", puddle.ErrClosedPool), gatehouse.EUNAVAILABLE},
		{"a wrapped code is found", fmt.Errorf("x: %w", &pgconn.PgError{Code: "23505"}), gatehouse.ECONFLICT},
		{"check_violation stays internal", &pgconn.PgError{Code: "23514"}, gatehouse.EINTERNAL},
		{"the message text is ignored", &pgconn.PgError{Code: "XX000", Message: "duplicate key value violates unique constraint"}, gatehouse.EINTERNAL},
		{"a gatehouse error keeps its code", lastAdmin, gatehouse.EFORBIDDEN},
		{"any other error stays internal", errors.New("boom"), gatehouse.EINTERNAL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := classify(tt.err)
			if got := gatehouse.ErrorCode(err); got != tt.code {
				t.Fatalf("classify(%v) code = %q, want %q", tt.err, got, tt.code)
			}
			if !errors.Is(err, tt.err) {
				t.Fatalf("classify(%v) lost the cause", tt.err)
			}
		})
	}
	if classify(nil) != nil {
		t.Fatal("classify(nil) != nil")
	}
}
