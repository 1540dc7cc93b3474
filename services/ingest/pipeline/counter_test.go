package pipeline_test

import (
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/stratahq/strata/pkg/bustest"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	"github.com/stratahq/strata/services/ingest/ledger"
	"github.com/stratahq/strata/services/ingest/pipeline"
)

// counts records what the pipeline reports to its Counter.
type counts struct{ accepted, duplicates int }

func (c *counts) Add(accepted, duplicates int) {
	c.accepted += accepted
	c.duplicates += duplicates
}

func TestCounterSeesAcceptedAndDuplicates(t *testing.T) {
	t.Parallel()
	srv := miniredis.RunT(t)
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{srv.Addr()}, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = rdb.Close() })
	c := &counts{}
	p, err := pipeline.New(&bustest.Recorder{}, pipeline.WithLedger(ledger.New(rdb, ledger.Config{})), pipeline.WithCounter(c))
	if err != nil {
		t.Fatal(err)
	}
	batch := func() []*eventv1.Event {
		return []*eventv1.Event{validEvent("e1", "u1", ""), validEvent("e2", "u1", ""), validEvent("e1", "u1", "")}
	}
	steps := []struct {
		name                 string
		events               []*eventv1.Event
		accepted, duplicates int
	}{
		{"first batch", batch(), 2, 1},
		{"all duplicates", batch(), 2, 4},
		{"invalid batch counts nothing", []*eventv1.Event{{}}, 2, 4},
	}
	for _, s := range steps {
		_, _ = p.Process(t.Context(), s.events)
		if c.accepted != s.accepted || c.duplicates != s.duplicates {
			t.Errorf("%s: got %d accepted %d duplicates, want %d and %d", s.name, c.accepted, c.duplicates, s.accepted, s.duplicates)
		}
	}
}
