package scoring

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	predictionv1 "github.com/stratahq/strata/proto/strata/prediction/v1"
)

// ErrUnknownRun is returned for a scoring run id the engine does not know.
var ErrUnknownRun = errors.New("scoring: unknown scoring run")

// batchChunk is how many users a batch run scores under one hold of the engine's
// lock and publishes in one call: small enough that live scoring interleaves, large
// enough to batch Kafka writes.
const batchChunk = 1000

// keptRuns is how many finished runs the engine remembers for GetScoringRun.
const keptRuns = 20

// run is one batch scoring of all users. Counters are atomic so that progress reads
// need no lock.
type run struct {
	id        string
	republish bool
	total     int64
	started   time.Time
	cancel    context.CancelFunc

	scored, published atomic.Int64

	mu       sync.Mutex
	state    predictionv1.ScoringRunState
	finished time.Time
	err      string
}

func (r *run) snapshot(now time.Time) *predictionv1.ScoringRun {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := &predictionv1.ScoringRun{
		RunId: r.id, State: r.state, UsersTotal: r.total, UsersScored: r.scored.Load(), Published: r.published.Load(),
		StartedAt: timestampOf(r.started), FinishedAt: timestampOf(r.finished), Error: r.err,
	}
	end := now
	if !r.finished.IsZero() {
		end = r.finished
	}
	if d := end.Sub(r.started).Seconds(); d > 0 {
		out.UsersPerSecond = float64(out.UsersScored) / d
	}
	return out
}

func (r *run) finish(state predictionv1.ScoringRunState, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.state, r.finished = state, time.Now()
	if err != nil {
		r.err = err.Error()
	}
}

// batches holds the engine's scoring runs.
type batches struct {
	mu     sync.Mutex
	seq    int
	active *run
	runs   []*run // oldest first, at most keptRuns finished ones plus the active
}

// StartScoringRun starts scoring every user known now with the promoted models in the
// background and returns the run's progress; with republish, unchanged scores are
// published too. While a run is active it returns that run instead of starting
// another. The run stops when it is done, cancelled (CancelScoringRun) or the engine
// stops (Close, or the end of Run).
func (e *Engine) StartScoringRun(republish bool) *predictionv1.ScoringRun {
	b := &e.batches
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.active != nil {
		return b.active.snapshot(time.Now())
	}
	b.seq++
	ctx, cancel := context.WithCancel(e.life)
	e.mu.Lock()
	ids := make([]string, 0, len(e.users))
	for id := range e.users {
		ids = append(ids, id)
	}
	e.mu.Unlock()
	slices.Sort(ids)
	r := &run{
		id:        "run-" + time.Now().UTC().Format("20060102t150405") + "-" + strconv.Itoa(b.seq),
		republish: republish, total: int64(len(ids)), started: time.Now(), cancel: cancel,
		state: predictionv1.ScoringRunState_SCORING_RUN_STATE_RUNNING,
	}
	b.active = r
	b.runs = append(b.runs, r)
	if len(b.runs) > keptRuns+1 {
		b.runs = slices.Delete(b.runs, 0, len(b.runs)-keptRuns-1)
	}
	e.batchWG.Add(1)
	go func() {
		defer e.batchWG.Done()
		defer cancel()
		err := e.scoreAll(ctx, r, ids)
		switch {
		case err == nil:
			r.finish(predictionv1.ScoringRunState_SCORING_RUN_STATE_SUCCEEDED, nil)
		case errors.Is(err, context.Canceled):
			r.finish(predictionv1.ScoringRunState_SCORING_RUN_STATE_CANCELLED, nil)
		default:
			r.finish(predictionv1.ScoringRunState_SCORING_RUN_STATE_FAILED, err)
		}
		snap := r.snapshot(time.Now())
		e.log.Info("scoring: batch run finished", slog.String("run", r.id), slog.String("state", snap.GetState().String()),
			slog.Int64("scored", snap.GetUsersScored()), slog.Int64("published", snap.GetPublished()),
			slog.Float64("users_per_second", snap.GetUsersPerSecond()))
		b.mu.Lock()
		if b.active == r {
			b.active = nil
		}
		b.mu.Unlock()
	}()
	return r.snapshot(time.Now())
}

// ScoringRun returns a run's progress.
func (e *Engine) ScoringRun(id string) (*predictionv1.ScoringRun, error) {
	r, err := e.findRun(id)
	if err != nil {
		return nil, err
	}
	return r.snapshot(time.Now()), nil
}

// CancelScoringRun asks a run to stop and returns its progress; the run reports
// cancelled once its current chunk is done. Cancelling a finished run changes nothing.
func (e *Engine) CancelScoringRun(id string) (*predictionv1.ScoringRun, error) {
	r, err := e.findRun(id)
	if err != nil {
		return nil, err
	}
	r.cancel()
	return r.snapshot(time.Now()), nil
}

func (e *Engine) findRun(id string) (*run, error) {
	b := &e.batches
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range b.runs {
		if r.id == id {
			return r, nil
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownRun, id)
}

// ScoreAll scores the given users (every known user when ids is nil) and publishes
// their predictions, changed ones only unless republish is set, returning how many it
// scored and published. It is the body of a scoring run, synchronous.
func (e *Engine) ScoreAll(ctx context.Context, ids []string, republish bool) (scored, published int64, err error) {
	if ids == nil {
		e.mu.Lock()
		for id := range e.users {
			ids = append(ids, id)
		}
		e.mu.Unlock()
	}
	r := &run{republish: republish}
	err = e.scoreAll(ctx, r, ids)
	return r.scored.Load(), r.published.Load(), err
}

func (e *Engine) scoreAll(ctx context.Context, r *run, ids []string) error {
	var o outbox
	for start := 0; start < len(ids); start += batchChunk {
		if err := ctx.Err(); err != nil {
			return err
		}
		o.reset()
		now := e.cfg.Now()
		var scored int64
		e.mu.Lock()
		for _, id := range ids[start:min(start+batchChunk, len(ids))] {
			u := e.users[id]
			if u == nil {
				continue // erased since the run started
			}
			scored++
			if _, err := e.queue(&o, id, u, now, r.republish); err != nil {
				e.mu.Unlock()
				return err
			}
		}
		e.mu.Unlock()
		if err := e.send(ctx, &o, nil); err != nil {
			return fmt.Errorf("scoring: batch run: %w", err)
		}
		r.scored.Add(scored)
		r.published.Add(int64(len(o.msgs)))
	}
	return nil
}
