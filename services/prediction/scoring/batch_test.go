package scoring_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratahq/strata/pkg/bus"
	predictionv1 "github.com/stratahq/strata/proto/strata/prediction/v1"
	"github.com/stratahq/strata/services/prediction/registry"
	"github.com/stratahq/strata/services/prediction/scoring"
)

// waitRun polls a run until it leaves the running state.
func waitRun(t *testing.T, e *scoring.Engine, id string) *predictionv1.ScoringRun {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := e.ScoringRun(id)
		if err != nil {
			t.Fatalf("ScoringRun: %v", err)
		}
		if r.GetState() != predictionv1.ScoringRunState_SCORING_RUN_STATE_RUNNING {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s still running: %v", id, r)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestScoringRunScoresEveryUser(t *testing.T) {
	t.Parallel()
	e, pub, _, _ := newEngine(t, scoring.Config{Seed: 1, MinExamples: 100})
	t.Cleanup(e.Close)
	const users = 2500 // three chunks
	// No trained model: the prior CLV scores, which is all a run needs.
	population(e, users, 3)
	tests := []struct {
		name          string
		republish     bool
		wantPublished int64
	}{
		{"first run publishes everyone", false, users},
		{"nothing changed", false, 0},
		{"republish", true, users},
	}
	for _, tt := range tests {
		pub.take()
		started := e.StartScoringRun(tt.republish)
		if started.GetRunId() == "" || started.GetUsersTotal() != users {
			t.Fatalf("%s: started %v, want an id and %d users", tt.name, started, users)
		}
		r := waitRun(t, e, started.GetRunId())
		if r.GetState() != predictionv1.ScoringRunState_SCORING_RUN_STATE_SUCCEEDED || r.GetUsersScored() != users ||
			r.GetPublished() != tt.wantPublished || r.GetFinishedAt() == nil || r.GetUsersPerSecond() <= 0 {
			t.Errorf("%s: got %v, want succeeded with %d scored, %d published", tt.name, r, users, tt.wantPublished)
		}
		if got := int64(len(pub.take())); got != tt.wantPublished {
			t.Errorf("%s: %d messages, want %d", tt.name, got, tt.wantPublished)
		}
	}
	if _, err := e.ScoringRun("run-none"); !errors.Is(err, scoring.ErrUnknownRun) {
		t.Errorf("unknown run: got %v, want ErrUnknownRun", err)
	}
}

// blocking publishes nothing until its context ends.
type blocking struct{ calls atomic.Int64 }

func (b *blocking) Publish(ctx context.Context, _ ...bus.Message) error {
	b.calls.Add(1)
	<-ctx.Done()
	return ctx.Err()
}

func TestScoringRunCancels(t *testing.T) {
	t.Parallel()
	reg, err := registry.Open(registry.Config{})
	if err != nil {
		t.Fatal(err)
	}
	pub := &blocking{}
	e, err := scoring.New(scoring.Config{Now: func() time.Time { return t0 }}, reg, pub, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	population(e, 2500, 4)
	first := e.StartScoringRun(false)
	// A second start while the first runs returns the first.
	if again := e.StartScoringRun(true); again.GetRunId() != first.GetRunId() {
		t.Errorf("second start: got run %s, want the running %s", again.GetRunId(), first.GetRunId())
	}
	deadline := time.Now().Add(30 * time.Second)
	for pub.calls.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the run never published")
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := e.CancelScoringRun(first.GetRunId()); err != nil {
		t.Fatal(err)
	}
	r := waitRun(t, e, first.GetRunId())
	if r.GetState() != predictionv1.ScoringRunState_SCORING_RUN_STATE_CANCELLED || r.GetUsersScored() >= 2500 || r.GetPublished() != 0 {
		t.Errorf("cancelled run: got %v, want cancelled before the end with nothing published", r)
	}
	if next := e.StartScoringRun(false); next.GetRunId() == first.GetRunId() {
		t.Errorf("a run after the cancelled one reused its id %s", next.GetRunId())
	}
}
