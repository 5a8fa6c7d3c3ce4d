package password

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// occupy runs a call on p that holds its worker until release is closed, and
// returns once it is running. done receives Do's result.
func occupy(t *testing.T, p *Pool, release <-chan struct{}) (done <-chan error) {
	t.Helper()
	started := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		for {
			err := p.Do(context.Background(), func() { close(started); <-release })
			// With no queue, a worker that has not yet reached its first
			// receive sheds the call; try again until it has.
			if !errors.Is(err, ErrBusy) {
				errc <- err
				return
			}
			runtime.Gosched()
		}
	}()
	<-started
	return errc
}

// enqueue starts a call on p that records in ran whether fn ran, and returns
// once it waits in the queue (depth reaches wantDepth).
func enqueue(ctx context.Context, p *Pool, ran *atomic.Bool, wantDepth int) <-chan error {
	errc := make(chan error, 1)
	go func() { errc <- p.Do(ctx, func() { ran.Store(true) }) }()
	for p.QueueDepth() < wantDepth {
		runtime.Gosched()
	}
	return errc
}

func TestPoolRunsFnAndReturnsItsResults(t *testing.T) {
	p := NewPool(2, 4)
	defer p.Close()
	var got int
	if err := p.Do(context.Background(), func() { got = 42 }); err != nil || got != 42 {
		t.Fatalf("Do = %v, result %d; want nil, 42", err, got)
	}
}

func TestPoolShedsWithErrBusyWhenQueueFull(t *testing.T) {
	p := NewPool(1, 1)
	defer p.Close()
	release := make(chan struct{})
	first := occupy(t, p, release)
	var ran atomic.Bool
	queued := enqueue(context.Background(), p, &ran, 1)

	var shedRan bool
	if err := p.Do(context.Background(), func() { shedRan = true }); !errors.Is(err, ErrBusy) {
		t.Fatalf("Do with full queue = %v, want ErrBusy", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Errorf("running call = %v, want nil", err)
	}
	if err := <-queued; err != nil || !ran.Load() {
		t.Errorf("queued call = %v, ran %v; want nil, true", err, ran.Load())
	}
	if shedRan {
		t.Error("a shed fn ran")
	}
}

func TestPoolWithoutQueueShedsWhenWorkersBusy(t *testing.T) {
	p := NewPool(1, 0)
	defer p.Close()
	release := make(chan struct{})
	defer close(release)
	occupy(t, p, release)
	if err := p.Do(context.Background(), func() {}); !errors.Is(err, ErrBusy) {
		t.Fatalf("Do with busy worker and no queue = %v, want ErrBusy", err)
	}
}

func TestPoolHonoursContextWhileQueued(t *testing.T) {
	p := NewPool(1, 1)
	defer p.Close()
	release := make(chan struct{})
	first := occupy(t, p, release)
	ctx, cancel := context.WithCancel(context.Background())
	var ran atomic.Bool
	queued := enqueue(ctx, p, &ran, 1)

	cancel()
	if err := <-queued; !errors.Is(err, context.Canceled) {
		t.Fatalf("queued call after cancel = %v, want context.Canceled", err)
	}
	close(release)
	<-first
	// The abandoned job is skipped, not run: a later call still gets through
	// and the worker never touched ran.
	if err := p.Do(context.Background(), func() {}); err != nil {
		t.Fatalf("Do after an abandoned job = %v", err)
	}
	if ran.Load() {
		t.Error("fn of a cancelled call ran")
	}
}

func TestPoolRefusesDoneContextAtOnce(t *testing.T) {
	p := NewPool(1, 1)
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	if err := p.Do(ctx, func() { ran = true }); !errors.Is(err, context.Canceled) || ran {
		t.Errorf("Do(cancelled ctx) = %v, ran %v; want context.Canceled, false", err, ran)
	}
}

func TestPoolCloseFailsQueuedAndLaterCalls(t *testing.T) {
	p := NewPool(1, 1)
	release := make(chan struct{})
	first := occupy(t, p, release)
	var ran atomic.Bool
	queued := enqueue(context.Background(), p, &ran, 1)

	closed := make(chan struct{})
	go func() { p.Close(); close(closed) }()
	if err := <-queued; !errors.Is(err, ErrClosed) {
		t.Errorf("queued call on Close = %v, want ErrClosed", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Errorf("running call on Close = %v, want it to finish with nil", err)
	}
	<-closed
	if err := p.Do(context.Background(), func() {}); !errors.Is(err, ErrClosed) {
		t.Errorf("Do after Close = %v, want ErrClosed", err)
	}
	if ran.Load() {
		t.Error("queued fn ran after Close")
	}
	p.Close() // idempotent
}

func TestPoolReportsQueueWait(t *testing.T) {
	p := NewPool(1, 1)
	defer p.Close()
	var ticks atomic.Int64 // each reading of the clock advances it 5ms
	p.Now = func() time.Time { return time.Unix(0, ticks.Add(1)*int64(5*time.Millisecond)) }
	var waits []time.Duration
	p.OnWait = func(d time.Duration) { waits = append(waits, d) }

	if err := p.Do(context.Background(), func() {}); err != nil {
		t.Fatal(err)
	}
	if len(waits) != 1 || waits[0] != 5*time.Millisecond {
		t.Errorf("OnWait got %v, want [5ms]", waits)
	}
}

func TestPoolConcurrentCallsAllRunOrShed(t *testing.T) {
	p := NewPool(2, 4)
	defer p.Close()
	var ran, ok, busy atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			switch err := p.Do(context.Background(), func() { ran.Add(1) }); {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrBusy):
				busy.Add(1)
			default:
				t.Errorf("Do = %v", err)
			}
		})
	}
	wg.Wait()
	if ran.Load() != ok.Load() || ok.Load()+busy.Load() != 64 {
		t.Errorf("ran %d, ok %d, busy %d: want ran == ok and ok+busy == 64", ran.Load(), ok.Load(), busy.Load())
	}
}

func BenchmarkPoolDo(b *testing.B) {
	p := NewPool(runtime.GOMAXPROCS(0), 64)
	defer p.Close()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Do(ctx, func() {}); err != nil {
			b.Fatal(err)
		}
	}
}
