// Package store keeps the profile service's state in Redis: computed profiles, segment
// memberships and their outbox, segment members and back-fill status, RFM boundaries and
// grid, and the locks that let one instance at a time run a cluster-wide job. Redis is a
// cache here: the compacted strata.profiles.v1 changelog holds the same profiles and
// rebuilds them (see package restore), and memberships are recomputed by back-fills.
//
// A profile is a hash {pb: protobuf bytes, v: version}. Put writes only if the stored
// version is not newer, so a stale writer (an instance that lost its partition during a
// rebalance but still finishes a message) cannot roll a profile back.
//
// A Store is safe for concurrent use.
package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	"github.com/stratahq/strata/pkg/cache"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
)

// Errors returned by the store.
var (
	// ErrNotFound is returned by Get for a user without a profile.
	ErrNotFound = errors.New("profile not found")
	// ErrStale is returned by Put when Redis holds a newer version of the profile.
	ErrStale = errors.New("store: a newer profile version is stored")
)

// Store reads and writes the profile service's Redis state.
type Store struct {
	rdb redis.UniversalClient
}

// New returns a store over rdb.
func New(rdb redis.UniversalClient) *Store { return &Store{rdb: rdb} }

// Client returns the Redis client.
func (s *Store) Client() redis.UniversalClient { return s.rdb }

const (
	fieldProto   = "pb"
	fieldVersion = "v"
)

// putScript stores a profile unless a newer version is stored. KEYS[1] profile key;
// ARGV[1] bytes, ARGV[2] version. Returns 1 when stored, 0 when stale.
var putScript = redis.NewScript(`
local cur = tonumber(redis.call('HGET', KEYS[1], 'v') or '-1')
if tonumber(ARGV[2]) < cur then return 0 end
redis.call('HSET', KEYS[1], 'pb', ARGV[1], 'v', ARGV[2])
return 1
`)

// Get returns the profile of userID or ErrNotFound.
func (s *Store) Get(ctx context.Context, userID string) (*profilev1.Profile, error) {
	b, err := s.rdb.HGet(ctx, cache.ProfileKey(userID), fieldProto).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: get profile: %w", err)
	}
	return decode(b)
}

func decode(b []byte) (*profilev1.Profile, error) {
	p := &profilev1.Profile{}
	if err := proto.Unmarshal(b, p); err != nil {
		return nil, fmt.Errorf("store: decode profile: %w", err)
	}
	return p, nil
}

// Put writes p unless Redis holds a newer version (ErrStale).
func (s *Store) Put(ctx context.Context, p *profilev1.Profile) error {
	b, err := proto.Marshal(p)
	if err != nil {
		return fmt.Errorf("store: encode profile: %w", err)
	}
	return s.PutEncoded(ctx, p.GetUserId(), p.GetVersion(), b)
}

// PutEncoded writes an encoded profile of the given version unless Redis holds a newer
// one (ErrStale).
func (s *Store) PutEncoded(ctx context.Context, userID string, version int64, b []byte) error {
	ok, err := putScript.Run(ctx, s.rdb, []string{cache.ProfileKey(userID)}, b, version).Int()
	if err != nil {
		return fmt.Errorf("store: put profile: %w", err)
	}
	if ok == 0 {
		return ErrStale
	}
	return nil
}

// Delete removes a user's profile, memberships and pending segment events.
func (s *Store) Delete(ctx context.Context, userID string) error {
	if err := s.rdb.Del(ctx, cache.ProfileKey(userID), cache.ProfileSegmentsKey(userID), cache.ProfileSegmentOutboxKey(userID)).Err(); err != nil {
		return fmt.Errorf("store: delete profile: %w", err)
	}
	return nil
}

// scanBatch is how many keys one SCAN step asks for and one pipeline reads.
const scanBatch = 500

// Scan calls fn with every stored profile, in no particular order, a batch at a time. A
// profile written during the scan may be seen in either version or (rarely, when Redis
// rehashes) twice. It stops at fn's first error.
func (s *Store) Scan(ctx context.Context, fn func(batch []*profilev1.Profile) error) error {
	scanNode := func(ctx context.Context, c redis.UniversalClient) error {
		var cursor uint64
		for {
			keys, next, err := c.Scan(ctx, cursor, cache.ProfileKeyPattern, scanBatch).Result()
			if err != nil {
				return fmt.Errorf("store: scan profiles: %w", err)
			}
			if len(keys) > 0 {
				batch, err := s.getKeys(ctx, keys)
				if err != nil {
					return err
				}
				if err := fn(batch); err != nil {
					return err
				}
			}
			if next == 0 {
				return nil
			}
			cursor = next
		}
	}
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scanNode(ctx, c) })
	}
	return scanNode(ctx, s.rdb)
}

func (s *Store) getKeys(ctx context.Context, keys []string) ([]*profilev1.Profile, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.HGet(ctx, k, fieldProto)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("store: read profiles: %w", err)
	}
	out := make([]*profilev1.Profile, 0, len(keys))
	for _, c := range cmds {
		b, err := c.Bytes()
		if errors.Is(err, redis.Nil) {
			continue // deleted since the scan saw it
		}
		if err != nil {
			return nil, fmt.Errorf("store: read profile: %w", err)
		}
		p, err := decode(b)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// Restored reports whether the profile cache was built from the changelog.
func (s *Store) Restored(ctx context.Context) (bool, error) {
	n, err := s.rdb.Exists(ctx, cache.ProfileRestoredKey).Result()
	if err != nil {
		return false, fmt.Errorf("store: read restore marker: %w", err)
	}
	return n == 1, nil
}

// MarkRestored records that the profile cache holds the changelog.
func (s *Store) MarkRestored(ctx context.Context, at int64) error {
	if err := s.rdb.Set(ctx, cache.ProfileRestoredKey, strconv.FormatInt(at, 10), 0).Err(); err != nil {
		return fmt.Errorf("store: write restore marker: %w", err)
	}
	return nil
}
