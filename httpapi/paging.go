package httpapi

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strconv"

	"github.com/gatehouse/gatehouse"
)

// readPage reads a paged list's limit and cursor from its query, so every
// list refuses a bad page the same way (contract §2's 422 shape). limit is
// def when absent and must lie in 1..maxLimit; cursor is the last id of
// the previous page, 0 for the first page.
func readPage(q url.Values, def, maxLimit int) (limit int, cursor int64, err error) {
	limit = def
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			return 0, 0, gatehouse.Invalid([]string{"query", "limit"},
				fmt.Sprintf("Must be an integer from 1 to %d", maxLimit), "value_error")
		}
		limit = n
	}
	if v := q.Get("cursor"); v != "" {
		if cursor, err = decodeCursor(v); err != nil {
			return 0, 0, gatehouse.Invalid([]string{"query", "cursor"}, "Invalid cursor", "value_error")
		}
	}
	return limit, cursor, nil
}

// nextPage cuts items, fetched as limit+1 so that the extra one tells
// whether another page exists, down to limit. It returns the cursor of the
// page after (the last kept item's id), or nil on the last page.
func nextPage[T any](items []T, limit int, id func(T) int64) ([]T, *string) {
	if len(items) <= limit {
		return items, nil
	}
	items = items[:limit]
	c := encodeCursor(id(items[len(items)-1]))
	return items, &c
}

// Cursors are opaque to clients: base64url of the last id seen.
func encodeCursor(id int64) string {
	return base64.RawURLEncoding.EncodeToString(strconv.AppendInt(nil, id, 10))
}

func decodeCursor(c string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, err
	}
	id, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || id <= 0 {
		return 0, strconv.ErrSyntax
	}
	return id, nil
}
