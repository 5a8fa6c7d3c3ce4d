package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/jackc/pgx/v5"
)

// CreateItem implements gatehouse.ItemStore.
func (db *DB) CreateItem(ctx context.Context, it *gatehouse.Item) error {
	it.CreatedAt = db.now().UTC().Truncate(time.Microsecond)
	err := db.pool.QueryRow(ctx, `INSERT INTO items (owner_id, name, description, price, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
		it.OwnerID, it.Name, it.Description, it.Price, it.CreatedAt).Scan(&it.ID)
	if err != nil {
		return fmt.Errorf("postgres: create item: %w", classify(err))
	}
	return nil
}

// ItemsByOwner implements gatehouse.ItemStore.
func (db *DB) ItemsByOwner(ctx context.Context, ownerID int64, limit int) ([]*gatehouse.Item, error) {
	rows, _ := db.pool.Query(ctx, `SELECT id, owner_id, name, description, price, created_at FROM items WHERE owner_id = $1 ORDER BY id LIMIT $2`, ownerID, limit)
	items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*gatehouse.Item, error) {
		var it gatehouse.Item
		err := row.Scan(&it.ID, &it.OwnerID, &it.Name, &it.Description, &it.Price, &it.CreatedAt)
		return &it, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: items: %w", classify(err))
	}
	return items, nil
}
