package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	"github.com/stratahq/strata/pkg/cache"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
)

// Boundaries returns the current RFM boundaries, nil when never calibrated.
func (s *Store) Boundaries(ctx context.Context) (*profilev1.RfmBoundaries, error) {
	b := &profilev1.RfmBoundaries{}
	ok, err := s.getProto(ctx, cache.RFMBoundariesKey, b)
	if !ok {
		return nil, err
	}
	return b, nil
}

// Grid returns the RFM grid of the last calibration, nil when never calibrated.
func (s *Store) Grid(ctx context.Context) (*profilev1.RfmGrid, error) {
	g := &profilev1.RfmGrid{}
	ok, err := s.getProto(ctx, cache.RFMGridKey, g)
	if !ok {
		return nil, err
	}
	return g, nil
}

func (s *Store) getProto(ctx context.Context, key string, m proto.Message) (bool, error) {
	b, err := s.rdb.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: get %s: %w", key, err)
	}
	if err := proto.Unmarshal(b, m); err != nil {
		return false, fmt.Errorf("store: decode %s: %w", key, err)
	}
	return true, nil
}

// Clusters returns the behaviour clusters of the last computation, nil when never computed.
func (s *Store) Clusters(ctx context.Context) (*profilev1.ClusterModel, error) {
	m := &profilev1.ClusterModel{}
	ok, err := s.getProto(ctx, cache.ClustersKey, m)
	if !ok {
		return nil, err
	}
	return m, nil
}

// SaveClusters stores a clustering.
func (s *Store) SaveClusters(ctx context.Context, m *profilev1.ClusterModel) error {
	b, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("store: encode clusters: %w", err)
	}
	if err := s.rdb.Set(ctx, cache.ClustersKey, b, 0).Err(); err != nil {
		return fmt.Errorf("store: write clusters: %w", err)
	}
	return nil
}

// SaveCalibration stores new RFM boundaries and the grid computed with them, in one
// transaction, so every instance reads a matching pair.
func (s *Store) SaveCalibration(ctx context.Context, b *profilev1.RfmBoundaries, g *profilev1.RfmGrid) error {
	bb, err := proto.Marshal(b)
	if err != nil {
		return fmt.Errorf("store: encode boundaries: %w", err)
	}
	gb, err := proto.Marshal(g)
	if err != nil {
		return fmt.Errorf("store: encode grid: %w", err)
	}
	// Both keys are global; in a cluster they may live in different slots, where a
	// MULTI cannot span them: the grid is written first, so a reader never sees
	// boundaries newer than the grid.
	if err := s.rdb.Set(ctx, cache.RFMGridKey, gb, 0).Err(); err != nil {
		return fmt.Errorf("store: write grid: %w", err)
	}
	if err := s.rdb.Set(ctx, cache.RFMBoundariesKey, bb, 0).Err(); err != nil {
		return fmt.Errorf("store: write boundaries: %w", err)
	}
	return nil
}

// Locks.

var (
	extendScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`)
	unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)
)

// Lock is a lease on a Redis key, held by one owner until released or expired.
type Lock struct {
	s     *Store
	key   string
	owner string
	ttl   time.Duration
}

// TryLock takes the lease on key for owner, for ttl, and reports whether it got it.
func (s *Store) TryLock(ctx context.Context, key, owner string, ttl time.Duration) (*Lock, bool, error) {
	ok, err := s.rdb.SetNX(ctx, key, owner, ttl).Result()
	if err != nil {
		return nil, false, fmt.Errorf("store: lock %s: %w", key, err)
	}
	if !ok {
		return nil, false, nil
	}
	return &Lock{s: s, key: key, owner: owner, ttl: ttl}, true, nil
}

// ErrLockLost is returned by Extend when the lease expired and another owner may hold it.
var ErrLockLost = errors.New("store: lock lost")

// Extend renews the lease for another ttl.
func (l *Lock) Extend(ctx context.Context) error {
	n, err := extendScript.Run(ctx, l.s.rdb, []string{l.key}, l.owner, l.ttl.Milliseconds()).Int()
	if err != nil {
		return fmt.Errorf("store: extend lock %s: %w", l.key, err)
	}
	if n == 0 {
		return ErrLockLost
	}
	return nil
}

// Release gives the lease up if still held.
func (l *Lock) Release(ctx context.Context) error {
	if err := unlockScript.Run(ctx, l.s.rdb, []string{l.key}, l.owner).Err(); err != nil {
		return fmt.Errorf("store: release lock %s: %w", l.key, err)
	}
	return nil
}

// Hold runs fn while keeping the lease alive, cancelling fn's context if the lease is
// lost, and releases it afterwards.
func (l *Lock) Hold(ctx context.Context, fn func(context.Context) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(l.ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if err := l.Extend(ctx); err != nil {
					cancel(err)
					return
				}
			}
		}
	}()
	err := fn(ctx)
	close(done)
	if cause := context.Cause(ctx); err != nil && cause != nil && !errors.Is(cause, context.Canceled) {
		err = fmt.Errorf("%w: %w", err, cause)
	}
	if rerr := l.Release(context.WithoutCancel(ctx)); rerr != nil && err == nil {
		err = rerr
	}
	return err
}
