// Package restore rebuilds the Redis profile cache from the compacted strata.profiles.v1
// changelog, which holds every profile the service ever wrote.
//
// Redis holds a marker (cache.ProfileRestoredKey) while it holds the changelog's profiles.
// At start-up, and whenever a missing profile makes the updater ask, [Restorer.Ensure]
// checks the marker; without it, one instance (the holder of a Redis lease) reads the
// whole changelog into Redis, keeping for each user the highest version (so it never
// rolls back a profile the updater wrote meanwhile), and sets the marker; the others wait
// for the marker. A Restorer is safe for concurrent use.
//
// This is the cache-level form of the design's per-partition restore: the state is not
// owned per partition in memory but read through Redis, so any instance can take a
// partition over at once, and the changelog is what rebuilds Redis after a loss.
package restore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/cache"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	"github.com/stratahq/strata/services/profile/store"
)

// Restorer restores the profile cache from the changelog.
type Restorer struct {
	store *store.Store
	kafka bus.Config
	topic string
	owner string
	log   *slog.Logger
	// seenUntil caches a positive marker check (unix nanos) to spare Redis a round trip
	// per new user.
	seenUntil atomic.Int64
}

// New returns a restorer reading topic into s; owner names this instance in the lease.
func New(s *store.Store, kafka bus.Config, topic, owner string, log *slog.Logger) *Restorer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Restorer{store: s, kafka: kafka, topic: topic, owner: owner, log: log}
}

const (
	// restoreBatch is how many changelog records one Redis pipeline writes.
	restoreBatch = 500
	lockTTL      = 30 * time.Second
	pollEvery    = 250 * time.Millisecond
	markerCache  = time.Second
)

// ErrRestoring is returned by Check while the profile cache is not (yet) restored.
var ErrRestoring = errors.New("restore: the profile cache is being restored")

// Check returns ErrRestoring unless Redis holds the changelog's profiles; it does not
// wait.
func (r *Restorer) Check(ctx context.Context) error {
	if time.Now().UnixNano() < r.seenUntil.Load() {
		return nil
	}
	ok, err := r.store.Restored(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return ErrRestoring
	}
	r.seenUntil.Store(time.Now().Add(markerCache).UnixNano())
	return nil
}

// Ensure returns once Redis holds the changelog's profiles, restoring them if this
// instance gets the lease, waiting for the instance that has it otherwise.
func (r *Restorer) Ensure(ctx context.Context) error {
	if time.Now().UnixNano() < r.seenUntil.Load() {
		return nil
	}
	for {
		ok, err := r.store.Restored(ctx)
		if err != nil {
			return err
		}
		if ok {
			r.seenUntil.Store(time.Now().Add(markerCache).UnixNano())
			return nil
		}
		lock, got, err := r.store.TryLock(ctx, cache.ProfileRestoreLockKey, r.owner, lockTTL)
		if err != nil {
			return err
		}
		if got {
			return lock.Hold(ctx, r.restore)
		}
		t := time.NewTimer(pollEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("restore: wait for the profile cache: %w", ctx.Err())
		case <-t.C:
		}
	}
}

func (r *Restorer) restore(ctx context.Context) error {
	if ok, err := r.store.Restored(ctx); err != nil || ok {
		return err
	}
	start := time.Now()
	r.log.InfoContext(ctx, "restore: rebuilding the profile cache from the changelog", slog.String("topic", r.topic))
	var n, tombstones int64
	var pending []store.Encoded
	flush := func(ctx context.Context) error {
		if _, err := r.store.PutMany(ctx, pending); err != nil {
			return err
		}
		pending = pending[:0]
		return nil
	}
	// Scan hands records over one at a time, so pending needs no lock; a tombstone
	// flushes the puts before it, keeping each user's records in order.
	err := bus.Scan(ctx, r.kafka, r.topic, func(ctx context.Context, m bus.Message) error {
		user := string(m.Key)
		if user == "" {
			return nil
		}
		if m.Value == nil {
			tombstones++
			if err := flush(ctx); err != nil {
				return err
			}
			return r.store.Delete(ctx, user)
		}
		p := &profilev1.Profile{}
		if err := proto.Unmarshal(m.Value, p); err != nil {
			r.log.WarnContext(ctx, "restore: undecodable changelog record skipped",
				slog.Int("partition", m.Partition), slog.Int64("offset", m.Offset), slog.Any("error", err))
			return nil
		}
		n++
		pending = append(pending, store.Encoded{UserID: user, Version: p.GetVersion(), Bytes: m.Value})
		if len(pending) >= restoreBatch {
			return flush(ctx)
		}
		return nil
	})
	if err == nil {
		err = flush(ctx)
	}
	if err != nil {
		return fmt.Errorf("restore: read changelog: %w", err)
	}
	if err := r.store.MarkRestored(ctx, time.Now().UnixMilli()); err != nil {
		return err
	}
	r.log.InfoContext(ctx, "restore: profile cache rebuilt", slog.Int64("records", n),
		slog.Int64("tombstones", tombstones), slog.Duration("took", time.Since(start)))
	return nil
}
