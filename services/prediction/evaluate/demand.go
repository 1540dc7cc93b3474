package evaluate

import (
	"context"
	"fmt"
	"time"

	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	"github.com/stratahq/strata/services/prediction/demand"
	"github.com/stratahq/strata/services/prediction/features"
)

// CategoryDemandReport is the time-split evaluation of category demand.
type CategoryDemandReport struct {
	Cutoff  string `json:"cutoff"`
	Horizon string `json:"horizon"`
	// Weights are the fitted mixture weights by component name.
	Weights    map[string]float64 `json:"weights"`
	Categories int                `json:"categories"`
	Examples   int                `json:"training_purchases"`
	demand.Evaluation
}

// CategoryDemand fits category demand to the purchases before cutoff and measures it on
// each user's first purchase in [cutoff, cutoff+horizon) (to the end of the data when
// horizon is 0): hit rate@k and log loss, against the k most popular categories.
func CategoryDemand(ctx context.Context, events []*eventv1.Event, cutoff time.Time, horizon time.Duration, k int) (CategoryDemandReport, error) {
	if len(events) == 0 {
		return CategoryDemandReport{}, ErrNoEvents
	}
	if k <= 0 {
		k = 3
	}
	states := features.Replay(events)
	m, err := demand.Fit(ctx, states, cutoff, demand.Config{})
	if err != nil {
		return CategoryDemandReport{}, fmt.Errorf("evaluate: %w", err)
	}
	end := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	rep := CategoryDemandReport{Cutoff: cutoff.Format(time.DateOnly), Horizon: "until end of data", Weights: map[string]float64{},
		Categories: len(m.Categories), Examples: m.Examples}
	if horizon > 0 {
		end, rep.Horizon = cutoff.Add(horizon), horizon.String()
	}
	for i, w := range m.Weights {
		rep.Weights[demand.Names[i]] = w
	}
	rep.Evaluation = m.Evaluate(states, cutoff, end, k)
	return rep, nil
}
