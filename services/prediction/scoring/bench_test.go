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
	cpu0 := cpuSeconds()
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
	reportRates(b, float64(n), cpuSeconds()-cpu0)
}

// reportRates reports users/s (wall clock) and, where the CPU time is known, users per
// CPU-second (all the process's threads, the garbage collector included).
func reportRates(b *testing.B, users, cpu float64) {
	b.ReportMetric(users/b.Elapsed().Seconds(), "users/s")
	if cpu > 0 {
		b.ReportMetric(users/cpu, "users/cpu-s")
	}
}

// BenchmarkBatchScoring measures a batch scoring run: every op scores 20,000 users
// with the promoted propensity, churn, CLV and category-demand models and marshals a
// prediction for each (republish; the publisher discards them). users/s is the
// figure the issue targets (>= 20,000 per instance).
func BenchmarkBatchScoring(b *testing.B) {
	reg, _ := registry.Open(registry.Config{})
	e, err := scoring.New(scoring.Config{Seed: 1, MinExamples: 100, Now: func() time.Time { return t0 }}, reg, discard{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	const users = 20000
	population(e, users, 7)
	ctx := context.Background()
	if _, err := e.Train(ctx); err != nil {
		b.Fatal(err)
	}
	var n int64
	cpu0 := cpuSeconds()
	for b.Loop() {
		scored, _, err := e.ScoreAll(ctx, nil, true)
		if err != nil {
			b.Fatal(err)
		}
		n += scored
	}
	reportRates(b, float64(n), cpuSeconds()-cpu0)
}
