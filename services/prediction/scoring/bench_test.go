package scoring_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/services/prediction/registry"
	"github.com/stratahq/strata/services/prediction/scoring"
)

type discard struct{}

func (discard) Publish(context.Context, ...bus.Message) error { return nil }

// BenchmarkScoreAndPublish measures online scoring: every op applies one event to each
// of 2,000 users and flushes them all through the promoted propensity, churn and CLV
// models into prediction messages (the publisher discards them). users/s is the
// figure the issue targets (>= 20,000 per instance).
func BenchmarkScoreAndPublish(b *testing.B) {
	reg, _ := registry.Open(registry.Config{})
	now := t0
	e, err := scoring.New(scoring.Config{Seed: 1, MinExamples: 100, Now: func() time.Time { return now }}, reg, discard{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	const users = 2000
	population(e, users, 7)
	if _, err := e.Train(context.Background()); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	n := 0
	for b.Loop() {
		now = now.Add(time.Minute)
		for i := range users {
			e.Apply(0, -1, lesson(fmt.Sprintf("user-%04d", i), now.Add(-time.Second)))
		}
		if err := e.Flush(ctx, true); err != nil {
			b.Fatal(err)
		}
		n += users
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "users/s")
}
