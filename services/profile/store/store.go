// Package store keeps computed profiles in Redis, one protobuf value per user under
// cache.ProfileKey. Redis is a cache here: the compacted strata.profiles.v1 changelog
// holds the same profiles and rebuilds it. A Store is safe for concurrent use.
package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	"github.com/stratahq/strata/pkg/cache"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
)

// ErrNotFound is returned by Get for a user without a profile.
var ErrNotFound = errors.New("profile not found")

// Store reads and writes profiles.
type Store struct {
	rdb redis.UniversalClient
}

// New returns a store over rdb.
func New(rdb redis.UniversalClient) *Store { return &Store{rdb: rdb} }

// Get returns the profile of userID or ErrNotFound.
func (s *Store) Get(ctx context.Context, userID string) (*profilev1.Profile, error) {
	b, err := s.rdb.Get(ctx, cache.ProfileKey(userID)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: get profile: %w", err)
	}
	p := &profilev1.Profile{}
	if err := proto.Unmarshal(b, p); err != nil {
		return nil, fmt.Errorf("store: decode profile: %w", err)
	}
	return p, nil
}

// Put writes p.
func (s *Store) Put(ctx context.Context, p *profilev1.Profile) error {
	b, err := proto.Marshal(p)
	if err != nil {
		return fmt.Errorf("store: encode profile: %w", err)
	}
	if err := s.rdb.Set(ctx, cache.ProfileKey(p.GetUserId()), b, 0).Err(); err != nil {
		return fmt.Errorf("store: put profile: %w", err)
	}
	return nil
}
