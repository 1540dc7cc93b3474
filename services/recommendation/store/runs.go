package store

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	recommendationv1 "github.com/stratahq/strata/proto/strata/recommendation/v1"
)

// trainingRunsKey is the list of finished training runs (protobuf TrainingRun), newest
// at the head and trimmed to a bound, so every instance reports the runs of every
// instance. Like traitsKey, it is the service's own until it moves to pkg/cache.
const trainingRunsKey = "strata:rec:training-runs"

// AddRun records a finished run and keeps only the latest keep runs (keep ≥ 1).
func (s *Store) AddRun(ctx context.Context, run *recommendationv1.TrainingRun, keep int) error {
	b, err := proto.Marshal(run)
	if err != nil {
		return fmt.Errorf("store: encode training run: %w", err)
	}
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.LPush(ctx, trainingRunsKey, b)
		p.LTrim(ctx, trainingRunsKey, 0, int64(max(keep, 1))-1)
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: write training run: %w", err)
	}
	return nil
}

// Runs returns up to limit recorded runs, newest first. Runs that no longer decode are
// skipped rather than failing the listing.
func (s *Store) Runs(ctx context.Context, limit int) ([]*recommendationv1.TrainingRun, error) {
	if limit <= 0 {
		return nil, nil
	}
	vs, err := s.rdb.LRange(ctx, trainingRunsKey, 0, int64(limit)-1).Result()
	if err != nil {
		return nil, fmt.Errorf("store: read training runs: %w", err)
	}
	out := make([]*recommendationv1.TrainingRun, 0, len(vs))
	for _, v := range vs {
		r := &recommendationv1.TrainingRun{}
		if proto.Unmarshal([]byte(v), r) == nil {
			out = append(out, r)
		}
	}
	return out, nil
}
