// Package evaluate runs the offline evaluations behind `strata eval`: the CLV models'
// parameters on a purchase history, and the propensity learners' cross-validated
// scores. Both replay the history as Order Completed events through package features,
// the code that serves live traffic, so what is measured is what runs.
//
// The functions are pure computations over their inputs and safe for concurrent use.
package evaluate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	"github.com/stratahq/strata/services/prediction/clv"
	"github.com/stratahq/strata/services/prediction/features"
	"github.com/stratahq/strata/services/prediction/learn"
	"github.com/stratahq/strata/services/prediction/metrics"
	"github.com/stratahq/strata/services/prediction/model"
)

// Errors.
var (
	// ErrCutoffOutsideData is returned for a cutoff not strictly inside the events' span.
	ErrCutoffOutsideData = errors.New("evaluate: cutoff outside the data")
	// ErrNoEvents is returned for an empty history.
	ErrNoEvents = errors.New("evaluate: no events")
)

// BGNBDParams are the BG/NBD results as printed.
type BGNBDParams struct {
	R             float64 `json:"r"`
	Alpha         float64 `json:"alpha"`
	A             float64 `json:"a"`
	B             float64 `json:"b"`
	LogLikelihood float64 `json:"log_likelihood"`
}

// GammaGammaParams are the Gamma-Gamma results as printed.
type GammaGammaParams struct {
	P     float64 `json:"p"`
	Q     float64 `json:"q"`
	Gamma float64 `json:"gamma"`
}

// CLVReport is the output of `strata eval clv`.
type CLVReport struct {
	BGNBD           BGNBDParams      `json:"bgnbd"`
	GammaGamma      GammaGammaParams `json:"gamma_gamma"`
	Customers       int              `json:"customers"`
	RepeatCustomers int              `json:"repeat_customers"`
	CalibrationEnd  string           `json:"calibration_end"`
	TimeUnit        string           `json:"time_unit"`
}

// CLV fits BG/NBD and Gamma-Gamma to the orders up to and including the day of
// calibrationEnd, in weeks.
func CLV(ctx context.Context, events []*eventv1.Event, calibrationEnd time.Time) (CLVReport, error) {
	if len(events) == 0 {
		return CLVReport{}, ErrNoEvents
	}
	m, err := model.TrainCLV(ctx, features.Replay(events), calibrationEnd)
	if err != nil {
		return CLVReport{}, err
	}
	return CLVReport{
		BGNBD:           BGNBDParams{R: m.BGNBD.R, Alpha: m.BGNBD.Alpha, A: m.BGNBD.A, B: m.BGNBD.B, LogLikelihood: m.LogLikelihood},
		GammaGamma:      GammaGammaParams{P: m.GammaGamma.P, Q: m.GammaGamma.Q, Gamma: m.GammaGamma.Gamma},
		Customers:       m.Customers,
		RepeatCustomers: m.RepeatCustomers,
		CalibrationEnd:  calibrationEnd.Format(time.DateOnly),
		TimeUnit:        "week",
	}, nil
}

// PropensityOptions configure a propensity evaluation.
type PropensityOptions struct {
	// Cutoff splits history: features from events before it, labels after it.
	Cutoff time.Time
	// Horizon bounds the label window [Cutoff, Cutoff+Horizon); 0 runs to the end of
	// the data.
	Horizon time.Duration
	// Folds is the number of stratified cross-validation folds over users; default 5.
	Folds int
	Seed  uint64
	// Learners to evaluate; default all.
	Learners []model.Learner
}

// PropensityReport is the output of `strata eval propensity`.
type PropensityReport struct {
	Cutoff    string `json:"cutoff"`
	Horizon   string `json:"horizon"`
	Customers int    `json:"customers"`
	Positives int    `json:"positives"`
	Folds     int    `json:"folds"`
	Seed      uint64 `json:"seed"`
	// Models maps learner name to out-of-fold metrics of its calibrated scores.
	Models map[string]metrics.Report `json:"models"`
	// Selected is the learner with the highest Validation AUC: the one chosen
	// without reading a test label.
	Selected string `json:"selected"`
	// Validation maps learner name to its mean AUC on the time-based validation
	// split before the cutoff (ValidatePropensity, ValidationCutoffs).
	Validation map[string]float64 `json:"validation"`
	// Baselines are models that are not learners of this package, for comparison:
	// bgnbd_expected_purchases ranks by the BG/NBD's expected purchases over the
	// horizon, fitted on each training fold.
	Baselines map[string]metrics.Report `json:"baselines"`
}

// Propensity cross-validates every learner on the purchase-propensity task built from
// events at opts.Cutoff.
func Propensity(ctx context.Context, events []*eventv1.Event, opts PropensityOptions) (PropensityReport, error) {
	if len(events) == 0 {
		return PropensityReport{}, ErrNoEvents
	}
	first, last := events[0].GetTimestamp().AsTime(), events[0].GetTimestamp().AsTime()
	for _, e := range events {
		t := e.GetTimestamp().AsTime()
		if t.Before(first) {
			first = t
		}
		if t.After(last) {
			last = t
		}
	}
	if !opts.Cutoff.After(first) || !opts.Cutoff.Before(last) {
		return PropensityReport{}, fmt.Errorf("%w: cutoff %s, events from %s to %s", ErrCutoffOutsideData,
			opts.Cutoff.Format(time.DateOnly), first.Format(time.DateOnly), last.Format(time.DateOnly))
	}
	if opts.Folds < 2 {
		opts.Folds = 5
	}
	if len(opts.Learners) == 0 {
		opts.Learners = model.Learners()
	}
	states := features.Replay(events)
	ts := features.BuildTrainingSet(states, opts.Cutoff, features.PurchaseWithin(opts.Horizon))
	rep := PropensityReport{
		Cutoff: opts.Cutoff.Format(time.DateOnly), Horizon: "until end of data",
		Customers: len(ts.Y), Folds: opts.Folds, Seed: opts.Seed,
		Models: map[string]metrics.Report{}, Baselines: map[string]metrics.Report{}, Validation: map[string]float64{},
	}
	if opts.Horizon > 0 {
		rep.Horizon = opts.Horizon.String()
	}
	for _, v := range ts.Y {
		rep.Positives += int(v)
	}
	var err error
	if rep.Selected, err = selectLearner(ctx, events, opts, rep.Validation); err != nil {
		return PropensityReport{}, err
	}
	folds := learn.StratifiedFolds(ts.Y, opts.Folds, opts.Seed)
	for _, l := range opts.Learners {
		spec := model.PropensitySpec(l, opts.Seed)
		train := func(ctx context.Context, X [][]float64, y []float64) (learn.Classifier, error) {
			return model.Train(ctx, spec, X, y)
		}
		oof, err := learn.CrossValPredictFolds(ctx, train, ts.X, ts.Y, folds, opts.Folds)
		if err != nil {
			return PropensityReport{}, fmt.Errorf("evaluate: %s: %w", l, err)
		}
		if rep.Models[string(l)], err = metrics.Evaluate(oof, ts.Y); err != nil {
			return PropensityReport{}, err
		}
	}
	horizon := opts.Horizon
	if horizon <= 0 {
		horizon = last.Sub(opts.Cutoff)
	}
	oof, err := bgnbdScores(ctx, states, ts, folds, opts.Folds, horizon)
	if err != nil {
		return PropensityReport{}, err
	}
	if rep.Baselines["bgnbd_expected_purchases"], err = metrics.Evaluate(oof, ts.Y); err != nil {
		return PropensityReport{}, err
	}
	return rep, nil
}

// selectLearner scores every learner of opts on the validation split before
// opts.Cutoff, records the AUCs in auc and returns the best learner's name (the
// earlier in opts.Learners on a tie).
func selectLearner(ctx context.Context, events []*eventv1.Event, opts PropensityOptions, auc map[string]float64) (string, error) {
	specs := make([]model.Spec, len(opts.Learners))
	for i, l := range opts.Learners {
		specs[i] = model.PropensitySpec(l, opts.Seed)
	}
	res, err := ValidatePropensity(ctx, events, opts.Cutoff, opts.Folds, opts.Seed, specs)
	if err != nil {
		return "", err
	}
	best := -1
	for i, r := range res {
		auc[string(r.Spec.Learner)] = r.AUC
		if best < 0 || r.AUC > res[best].AUC {
			best = i
		}
	}
	return string(res[best].Spec.Learner), nil
}

// bgnbdScores scores each user by the BG/NBD's expected purchases over the horizon,
// fitted on the other folds, squashed into (0, 1) as 1 - e^-E so that log loss and
// Brier are defined (the ranking, and so the AUC, is that of E).
func bgnbdScores(ctx context.Context, states map[string]*features.State, ts features.TrainingSet, folds []int, k int, horizon time.Duration) ([]float64, error) {
	asOf := ts.Cutoff.Add(-time.Nanosecond)
	summaries := make([]clv.Summary, len(ts.Users))
	for i, u := range ts.Users {
		c, _ := clv.Summarize(states[u].Purchases(ts.Cutoff), asOf, clv.Week)
		summaries[i] = c.Summary
	}
	out := make([]float64, len(ts.Users))
	weeks := float64(horizon) / float64(clv.Week)
	for f := range k {
		var train []clv.Summary
		for i, s := range summaries {
			if folds[i] != f {
				train = append(train, s)
			}
		}
		fit, err := clv.FitBGNBD(ctx, train, clv.FitOptions{})
		if err != nil {
			return nil, fmt.Errorf("evaluate: BG/NBD fold %d: %w", f, err)
		}
		for i, s := range summaries {
			if folds[i] == f {
				out[i] = 1 - math.Exp(-fit.Params.ExpectedPurchases(s, weeks))
			}
		}
	}
	return out, nil
}
