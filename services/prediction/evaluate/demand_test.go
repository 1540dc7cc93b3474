package evaluate_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stratahq/strata/services/prediction/evaluate"
	"github.com/stratahq/strata/services/prediction/movielens"
)

// BenchmarkCategoryDemandMovieLens fits category demand to the MovieLens ratings before
// 2015-01-01 (genres as categories, every rating a purchase) and measures it on each
// user's first rating after that: hit rate@3 and log loss, and the same for the three
// most popular genres (pop_*). It fails when the model is behind popularity on hit
// rate.
//
//	go test ./evaluate -run '^$' -bench CategoryDemandMovieLens -benchtime 1x
func BenchmarkCategoryDemandMovieLens(b *testing.B) {
	dir, ok := movielens.FindDataset()
	if !ok {
		b.Skip("ml-latest-small not found: shared/datasets is absent above the working directory (a clone outside the project workspace)")
	}
	events, err := movielens.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	if len(events) != 100836 {
		b.Fatalf("ratings: got %d, want 100836", len(events))
	}
	for b.Loop() {
		rep, err := evaluate.CategoryDemand(context.Background(), events, time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC), 0, 3)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(rep.Users), "users")
		b.ReportMetric(rep.HitRate, "hit@3")
		b.ReportMetric(rep.PopularityHitRate, "pop_hit@3")
		b.ReportMetric(rep.LogLoss, "logloss")
		b.ReportMetric(rep.PopularityLogLoss, "pop_logloss")
		if rep.HitRate < rep.PopularityHitRate {
			b.Errorf("hit rate@3 %.3f below popularity's %.3f", rep.HitRate, rep.PopularityHitRate)
		}
	}
}

func TestCategoryDemandErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if _, err := evaluate.CategoryDemand(ctx, nil, time.Now(), 0, 3); !errors.Is(err, evaluate.ErrNoEvents) {
		t.Errorf("no events: got %v, want ErrNoEvents", err)
	}
}
