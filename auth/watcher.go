package auth

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse"
)

// changeRetention is how long the change feed is kept; an instance that
// could not poll for longer than staleAfter resyncs fully instead of
// trusting the feed to still hold everything it missed.
const (
	changeRetention = time.Hour
	staleAfter      = 10 * time.Minute
)

// Resync reloads every revocation from the store and empties the user
// cache and the API key cache: what an instance does at start and whenever
// it may have missed changes. (Ids known to be missing stay known: no
// change brings one back.) The feed position is read first, so a change
// made during the reload is applied again by the next poll rather than
// missed.
func (s *Service) Resync(ctx context.Context) error {
	s.feedMu.Lock()
	defer s.feedMu.Unlock()
	return s.resyncLocked(ctx)
}

func (s *Service) resyncLocked(ctx context.Context) error {
	seq, err := s.cfg.Store.LatestChange(ctx)
	if err != nil {
		return fmt.Errorf("auth: resync: %w", err)
	}
	if err := s.loadRevocations(ctx); err != nil {
		return fmt.Errorf("auth: resync: %w", err)
	}
	s.users.invalidateAll()
	s.keys.invalidateAll()
	s.feedSeq, s.feedOK = seq, s.now()
	return nil
}

// loadRevocations adds every live revocation in the store to the mirror,
// streamed in batches (a million of them are never one slice), which
// another goroutine adds while the store reads the next ones.
func (s *Service) loadRevocations(ctx context.Context) error {
	now := s.now()
	n, err := s.cfg.Store.CountRevocations(ctx, now)
	if err != nil {
		return err
	}
	s.mirror.Reserve(int(n))
	batches := make(chan []gatehouse.Revocation, 4)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for b := range batches {
			s.mirror.Add(b...)
		}
	}()
	batch := make([]gatehouse.Revocation, 0, 1024)
	err = s.cfg.Store.EachRevocation(ctx, now, func(r gatehouse.Revocation) error {
		if batch = append(batch, r); len(batch) == cap(batch) {
			batches <- batch
			batch = make([]gatehouse.Revocation, 0, 1024)
		}
		return nil
	})
	batches <- batch
	close(batches)
	<-done
	return err
}

// Poll applies the changes recorded in the store since the last poll: it
// drops changed users from the cache and mirrors revocations made by other
// processes (other instances, the CLI).
func (s *Service) Poll(ctx context.Context) error {
	s.feedMu.Lock()
	defer s.feedMu.Unlock()
	if s.now().Sub(s.feedOK) > staleAfter {
		return s.resyncLocked(ctx)
	}
	for {
		changes, err := s.cfg.Store.ChangesSince(ctx, s.feedSeq, 1000)
		if err != nil {
			return fmt.Errorf("auth: poll changes: %w", err)
		}
		for _, c := range changes {
			if c.Revocation != nil {
				s.mirror.Add(*c.Revocation)
			}
			if c.UserID != 0 {
				s.users.invalidate(c.UserID)
			}
			s.APIKeyChanged(c.APIKeyID)
			s.feedSeq = c.Seq
		}
		if len(changes) < 1000 {
			s.feedOK = s.now()
			return nil
		}
	}
}

// RunWatcher polls the change feed every interval until ctx ends.
func (s *Service) RunWatcher(ctx context.Context, interval time.Duration) {
	s.every(ctx, interval, "change feed poll", s.Poll)
}
