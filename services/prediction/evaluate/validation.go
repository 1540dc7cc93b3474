package evaluate

import (
	"context"
	"fmt"
	"time"

	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	"github.com/stratahq/strata/services/prediction/features"
	"github.com/stratahq/strata/services/prediction/learn"
	"github.com/stratahq/strata/services/prediction/metrics"
	"github.com/stratahq/strata/services/prediction/model"
)

// ValidationCutoffs returns the time-based validation cutoffs for a test cutoff: one
// half and one third of the span from the first event to the cutoff before it, so that
// each validation task has history before it and a label window that ends at the test
// cutoff.
func ValidationCutoffs(first, cutoff time.Time) []time.Time {
	span := cutoff.Sub(first)
	day := func(t time.Time) time.Time { return t.Truncate(24 * time.Hour) }
	return []time.Time{day(cutoff.Add(-span / 2)), day(cutoff.Add(-span / 3))}
}

// ValidationResult is one spec's score on the validation tasks.
type ValidationResult struct {
	Spec model.Spec
	// AUC is the mean over the validation cutoffs of the out-of-fold AUC.
	AUC float64
	// PerCutoff are the AUCs per cutoff, in ValidationCutoffs order.
	PerCutoff []float64
}

// ValidatePropensity scores specs on the time-based validation split of a propensity
// task whose test cutoff is cutoff: only events strictly before cutoff are read, the
// tasks are built at ValidationCutoffs with labels = an order between the validation
// cutoff and the test cutoff, and each spec is cross-validated over folds of users as
// the test is. Hyperparameters chosen by it never saw a test label.
func ValidatePropensity(ctx context.Context, events []*eventv1.Event, cutoff time.Time, folds int, seed uint64, specs []model.Spec) ([]ValidationResult, error) {
	var past []*eventv1.Event
	for _, e := range events {
		if e.GetTimestamp().AsTime().Before(cutoff) {
			past = append(past, e)
		}
	}
	if len(past) == 0 {
		return nil, ErrNoEvents
	}
	first := past[0].GetTimestamp().AsTime()
	for _, e := range past {
		if t := e.GetTimestamp().AsTime(); t.Before(first) {
			first = t
		}
	}
	if folds < 2 {
		folds = 5
	}
	states := features.Replay(past)
	type task struct {
		ts    features.TrainingSet
		folds []int
	}
	var tasks []task
	for _, vc := range ValidationCutoffs(first, cutoff) {
		ts := features.BuildTrainingSet(states, vc, features.PurchaseWithin(cutoff.Sub(vc)))
		tasks = append(tasks, task{ts: ts, folds: learn.StratifiedFolds(ts.Y, folds, seed)})
	}
	out := make([]ValidationResult, len(specs))
	for i, spec := range specs {
		out[i].Spec = spec
		train := func(ctx context.Context, X [][]float64, y []float64) (learn.Classifier, error) {
			return model.Train(ctx, spec, X, y)
		}
		for _, tk := range tasks {
			oof, err := learn.CrossValPredictFolds(ctx, train, tk.ts.X, tk.ts.Y, tk.folds, folds)
			if err != nil {
				return nil, fmt.Errorf("evaluate: validation of %s at %s: %w", spec.Learner, tk.ts.Cutoff.Format(time.DateOnly), err)
			}
			auc, err := metrics.AUC(oof, tk.ts.Y)
			if err != nil {
				return nil, err
			}
			out[i].PerCutoff = append(out[i].PerCutoff, auc)
			out[i].AUC += auc / float64(len(tasks))
		}
	}
	return out, nil
}
