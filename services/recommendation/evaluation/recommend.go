package evaluation

import (
	"context"
	"fmt"

	"github.com/stratahq/strata/services/recommendation/interactions"
	"github.com/stratahq/strata/services/recommendation/popularity"
	"github.com/stratahq/strata/services/recommendation/topk"
)

// Recommend trains the named model on ratings (every rating a positive) and returns, for
// each of users, the ids of its top cfg.K items, items the user rated excluded. A user
// without ratings, or for whom the model scores no item above zero, gets the most popular
// items instead.
func Recommend(ctx context.Context, ratings []interactions.Rating, model string, users []string, cfg Config) ([][]string, error) {
	if len(ratings) == 0 {
		return nil, ErrNoRatings
	}
	if cfg.K <= 0 {
		return nil, ErrBadK
	}
	if !knownModel(model) {
		return nil, fmt.Errorf("%w %q", ErrUnknownModel, model)
	}
	x := interactions.BinaryMatrix(ratings)
	sc, _, err := train(ctx, model, x, ratings, cfg)
	if err != nil {
		return nil, fmt.Errorf("evaluation: train %s: %w", model, err)
	}
	pop := popularity.Fit(x)
	out := make([][]string, len(users))
	step := progress(cfg, "recommend "+model)
	err = parallel(ctx, len(users), x.NumItems(), func(i int, buf []float64) {
		var items []int32
		var ws []float64
		u, ok := x.Users().Index(users[i])
		if ok {
			items, ws = x.Row(int(u))
		}
		skip := seen(items)
		var list []int32
		if len(items) > 0 {
			sc.Score(int(u), items, ws, buf)
			list = topk.Select(buf, cfg.K, func(j int32) bool { return buf[j] <= 0 || skip(j) })
		}
		if len(list) < cfg.K {
			// Pad with popular items not already listed or seen.
			have := map[int32]bool{}
			for _, j := range list {
				have[j] = true
			}
			list = append(list, pop.Top(cfg.K-len(list), func(j int32) bool { return have[j] || skip(j) })...)
		}
		ids := make([]string, len(list))
		for r, j := range list {
			ids[r] = x.Items().ID(j)
		}
		out[i] = ids
	})
	step(len(users), len(users))
	if err != nil {
		return nil, fmt.Errorf("evaluation: recommend: %w", err)
	}
	return out, nil
}
