package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse"
)

// CreateItem implements gatehouse.ItemStore.
func (db *DB) CreateItem(ctx context.Context, it *gatehouse.Item) error {
	it.CreatedAt = db.now().UTC().Truncate(time.Microsecond)
	err := db.tx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO items (owner_id, name, description, price, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id`,
			it.OwnerID, it.Name, it.Description, it.Price, micros(it.CreatedAt)).Scan(&it.ID)
	})
	if err != nil {
		return fmt.Errorf("sqlite: create item: %w", db.classify(err))
	}
	return nil
}

// ItemsByOwner implements gatehouse.ItemStore.
func (db *DB) ItemsByOwner(ctx context.Context, ownerID int64, limit int) ([]*gatehouse.Item, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT id, owner_id, name, description, price, created_at FROM items WHERE owner_id = ? ORDER BY id LIMIT ?`, ownerID, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: items: %w", db.classify(err))
	}
	defer rows.Close()
	var out []*gatehouse.Item
	for rows.Next() {
		var it gatehouse.Item
		var price sql.NullFloat64
		var created int64
		if err := rows.Scan(&it.ID, &it.OwnerID, &it.Name, &it.Description, &price, &created); err != nil {
			return nil, fmt.Errorf("sqlite: items: %w", db.classify(err))
		}
		if price.Valid {
			it.Price = &price.Float64
		}
		it.CreatedAt = fromMicros(created)
		out = append(out, &it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: items: %w", db.classify(err))
	}
	return out, nil
}
