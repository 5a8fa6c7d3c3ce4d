package httpapi

import (
	"errors"
	"net/url"
	"slices"
	"testing"

	"github.com/gatehouse/gatehouse"
)

func TestReadPageRefusesWithTheListsOwnMaximum(t *testing.T) {
	tests := []struct {
		name      string
		query     string
		def, max  int
		wantLimit int
		wantAfter int64
		wantLoc   string // "" for no error
		wantMsg   string
	}{
		{"defaults", "", 100, 500, 100, 0, "", ""},
		{"limit and cursor", "limit=500&cursor=" + encodeCursor(42), 100, 500, 500, 42, "", ""},
		{"users maximum", "limit=501", usersDefaultLimit, usersMaxLimit, 0, 0, "limit", "Must be an integer from 1 to 500"},
		{"audit maximum", "limit=201", auditDefaultLimit, auditMaxLimit, 0, 0, "limit", "Must be an integer from 1 to 200"},
		{"zero", "limit=0", 50, 200, 0, 0, "limit", "Must be an integer from 1 to 200"},
		{"not a number", "limit=ten", 50, 200, 0, 0, "limit", "Must be an integer from 1 to 200"},
		{"bad base64", "cursor=!!", 50, 200, 0, 0, "cursor", "Invalid cursor"},
		{"negative id", "cursor=LTE", 50, 200, 0, 0, "cursor", "Invalid cursor"},
		{"limit checked before cursor", "limit=0&cursor=!!", 50, 200, 0, 0, "limit", "Must be an integer from 1 to 200"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			limit, after, err := readPage(q, tt.def, tt.max)
			if tt.wantLoc == "" {
				if err != nil || limit != tt.wantLimit || after != tt.wantAfter {
					t.Fatalf("readPage = %d, %d, %v; want %d, %d, nil", limit, after, err, tt.wantLimit, tt.wantAfter)
				}
				return
			}
			var e *gatehouse.Error
			if !errors.As(err, &e) || e.Code != gatehouse.EINVALID || len(e.Fields) != 1 {
				t.Fatalf("err = %v, want one invalid field", err)
			}
			if f := e.Fields[0]; !slices.Equal(f.Loc, []string{"query", tt.wantLoc}) || f.Msg != tt.wantMsg || f.Type != "value_error" {
				t.Fatalf("field = %+v, want loc [query %s], msg %q", f, tt.wantLoc, tt.wantMsg)
			}
		})
	}
}

func TestNextPageCutsTheExtraItemAndPointsPastTheLastKept(t *testing.T) {
	id := func(n int64) int64 { return n }
	tests := []struct {
		name     string
		items    []int64
		limit    int
		want     []int64
		wantNext int64 // 0 for no next page
	}{
		{"empty", nil, 2, nil, 0},
		{"short page", []int64{1}, 2, []int64{1}, 0},
		{"exactly full", []int64{1, 2}, 2, []int64{1, 2}, 0},
		{"one more", []int64{9, 7, 5}, 2, []int64{9, 7}, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, next := nextPage(tt.items, tt.limit, id)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("items = %v, want %v", got, tt.want)
			}
			switch {
			case tt.wantNext == 0 && next != nil:
				t.Fatalf("next = %q on the last page", *next)
			case tt.wantNext != 0 && (next == nil || *next != encodeCursor(tt.wantNext)):
				t.Fatalf("next = %v, want the cursor of %d", next, tt.wantNext)
			}
			if next != nil {
				if after, err := decodeCursor(*next); err != nil || after != tt.wantNext {
					t.Fatalf("decodeCursor(next) = %d, %v; want %d", after, err, tt.wantNext)
				}
			}
		})
	}
}
