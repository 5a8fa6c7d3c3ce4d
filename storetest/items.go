package storetest

import (
	"context"
	"testing"

	"github.com/gatehouse/gatehouse"
)

func testItems(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := mustCreate(t, s, "ivy", gatehouse.RoleUser)
	other := mustCreate(t, s, "jack", gatehouse.RoleUser)
	price := 9.5
	items := []*gatehouse.Item{
		{OwnerID: u.ID, Name: "first", Description: "with a price", Price: &price},
		{OwnerID: other.ID, Name: "not mine"},
		{OwnerID: u.ID, Name: "second"},
		{OwnerID: u.ID, Name: "third"},
	}
	for _, it := range items {
		if err := s.CreateItem(ctx, it); err != nil {
			t.Fatal(err)
		}
		if it.ID == 0 || it.CreatedAt.IsZero() {
			t.Fatalf("CreateItem did not set ID/CreatedAt: %+v", it)
		}
	}
	got, err := s.ItemsByOwner(ctx, u.ID, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != items[0].ID || got[1].ID != items[2].ID {
		t.Fatalf("ItemsByOwner(limit 2) = %+v, want first and second", got)
	}
	first := got[0]
	if first.Name != "first" || first.Description != "with a price" || first.Price == nil || *first.Price != 9.5 ||
		!first.CreatedAt.Equal(items[0].CreatedAt) {
		t.Fatalf("read back %+v, want %+v", first, items[0])
	}
	if got[1].Price != nil {
		t.Fatalf("an item without a price reads back %v", *got[1].Price)
	}
	if all, err := s.ItemsByOwner(ctx, u.ID, 10); err != nil || len(all) != 3 {
		t.Fatalf("ItemsByOwner(limit 10) = %d items, %v; want 3", len(all), err)
	}
}
