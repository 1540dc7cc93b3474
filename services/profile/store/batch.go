package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stratahq/strata/pkg/cache"
	"github.com/stratahq/strata/services/profile/segment"
)

// Batch operations: one pipeline (one round trip per Redis node) for many users, so
// that a consumer batch costs a few round trips instead of several per event. Each
// command keeps its own semantics (a versioned put, a membership script); the batch as a
// whole is not atomic, and a failed pipeline may have applied some of its commands,
// which the versioned writes make harmless to run again.

// GetMany returns the stored profiles of userIDs, keyed by user id; users without a
// profile are absent.
func (s *Store) GetMany(ctx context.Context, userIDs []string) (map[string][]byte, error) {
	if len(userIDs) == 0 {
		return map[string][]byte{}, nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(userIDs))
	for i, u := range userIDs {
		cmds[i] = pipe.HGet(ctx, cache.ProfileKey(u), fieldProto)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("store: get profiles: %w", err)
	}
	out := make(map[string][]byte, len(userIDs))
	for i, c := range cmds {
		b, err := c.Bytes()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("store: get profile: %w", err)
		}
		out[userIDs[i]] = b
	}
	return out, nil
}

// Encoded is an encoded profile to write with PutMany.
type Encoded struct {
	UserID  string
	Version int64
	Bytes   []byte
}

// PutMany writes every profile of ps unless Redis holds a newer version of it, and
// reports, in the order of ps, which ones were stale (not written).
func (s *Store) PutMany(ctx context.Context, ps []Encoded) ([]bool, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	res, err := s.runScripts(ctx, putScript, len(ps), func(i int) ([]string, []any) {
		return []string{cache.ProfileKey(ps[i].UserID)}, []any{ps[i].Bytes, ps[i].Version}
	})
	if err != nil {
		return nil, fmt.Errorf("store: put profiles: %w", err)
	}
	stale := make([]bool, len(ps))
	for i, n := range res {
		stale[i] = n == 0
	}
	return stale, nil
}

// MembershipUpdate is one user's segment results for ApplyMemberships.
type MembershipUpdate struct {
	UserID  string
	Version int64
	Results []segment.Result
}

// ApplyMemberships records each update as ApplyMembership does, at time at, and returns
// in the order of updates the number of queued events per user, or -1 where the update
// was stale.
func (s *Store) ApplyMemberships(ctx context.Context, at time.Time, updates []MembershipUpdate) ([]int64, error) {
	if len(updates) == 0 {
		return nil, nil
	}
	res, err := s.runScripts(ctx, applyMembershipScript, len(updates), func(i int) ([]string, []any) {
		u := updates[i]
		return []string{cache.ProfileSegmentsKey(u.UserID), cache.ProfileSegmentOutboxKey(u.UserID)},
			membershipArgs(u.Version, at, u.Results)
	})
	if err != nil {
		return nil, fmt.Errorf("store: apply memberships: %w", err)
	}
	return res, nil
}

func membershipArgs(version int64, at time.Time, results []segment.Result) []any {
	args := make([]any, 0, 2+3*len(results))
	args = append(args, version, at.UnixMilli())
	for _, r := range results {
		m := "0"
		if r.Member {
			m = "1"
		}
		args = append(args, r.SegmentID, r.SegmentVersion, m)
	}
	return args
}

// runScripts runs script n times in one pipeline, with the keys and arguments call i
// returns, and returns the integer results. If Redis lost the script (NOSCRIPT), it loads
// it and runs the pipeline again: the scripts are idempotent.
func (s *Store) runScripts(ctx context.Context, script *redis.Script, n int, call func(i int) ([]string, []any)) ([]int64, error) {
	for attempt := 0; ; attempt++ {
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.Cmd, n)
		for i := range n {
			keys, args := call(i)
			cmds[i] = script.EvalSha(ctx, pipe, keys, args...)
		}
		_, err := pipe.Exec(ctx)
		if err != nil && attempt == 0 && redis.HasErrorPrefix(err, "NOSCRIPT") {
			if err := script.Load(ctx, s.rdb).Err(); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		out := make([]int64, n)
		for i, c := range cmds {
			v, err := c.Int64()
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	}
}
