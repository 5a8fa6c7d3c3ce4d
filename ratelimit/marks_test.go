package ratelimit_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/ratelimit"
)

func TestMemoryMarksRememberUntilTheirTime(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	m := ratelimit.NewMemoryMarks(10)
	if ok, _ := m.Marked(ctx, "a", c.now()); ok {
		t.Fatal("marked before Mark")
	}
	m.Mark(ctx, "a", c.now(), time.Hour)
	c.advance(time.Hour - time.Second)
	if ok, _ := m.Marked(ctx, "a", c.now()); !ok {
		t.Fatal("forgotten before its time")
	}
	c.advance(time.Second)
	if ok, _ := m.Marked(ctx, "a", c.now()); ok {
		t.Fatal("remembered after its time")
	}
}

// TestMemoryMarksStayBounded: however many keys are marked, the store
// holds at most its bound; when full it drops expired marks first, and
// live ones only when too few have expired.
func TestMemoryMarksStayBounded(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	m := ratelimit.NewMemoryMarks(100)
	for i := range 50 {
		m.Mark(ctx, fmt.Sprint("short", i), c.now(), time.Second)
		m.Mark(ctx, fmt.Sprint("live", i), c.now(), time.Hour)
	}
	c.advance(2 * time.Second)
	m.Mark(ctx, "new", c.now(), time.Hour) // full: the expired half makes room
	for i := range 50 {
		if ok, _ := m.Marked(ctx, fmt.Sprint("live", i), c.now()); !ok {
			t.Fatalf("a live mark was dropped while half the marks had expired (live%d)", i)
		}
	}
	for i := range 10_000 {
		m.Mark(ctx, fmt.Sprint("flood", i), c.now(), time.Hour)
		if m.Len() > 100 {
			t.Fatalf("%d marks held, bound 100", m.Len())
		}
	}
	if ok, _ := m.Marked(ctx, "flood9999", c.now()); !ok {
		t.Fatal("the newest mark was dropped")
	}
}

// failingMarks is a MarkStore that is down.
type failingMarks struct{}

func (failingMarks) Mark(context.Context, string, time.Time, time.Duration) error { return errDown }
func (failingMarks) Marked(context.Context, string, time.Time) (bool, error)      { return false, errDown }

func TestFallbackMarksServeLocallyWhileThePrimaryIsDown(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	up := ratelimit.NewMemoryMarks(10)
	f := &ratelimit.FallbackMarks{Primary: up, Local: ratelimit.NewMemoryMarks(10), Breaker: &ratelimit.Breaker{Cooldown: time.Minute}}
	if err := f.Mark(ctx, "k", c.now(), time.Hour); err != nil {
		t.Fatal(err)
	}
	if ok, _ := up.Marked(ctx, "k", c.now()); !ok {
		t.Fatal("the mark did not reach the primary")
	}
	f.Primary = failingMarks{}
	if ok, err := f.Marked(ctx, "k", c.now()); err != nil || !ok {
		t.Fatalf("with the primary down: %v, %v; want the local mark", ok, err)
	}
	if err := f.Mark(ctx, "k2", c.now(), time.Hour); err != nil {
		t.Fatalf("marking with the primary down: %v", err)
	}
	if ok, _ := f.Marked(ctx, "k2", c.now()); !ok {
		t.Fatal("a mark made during the outage is not seen")
	}
}
