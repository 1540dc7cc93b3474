// Package model defines the prediction service's trained artefacts: a binary
// classifier over the features of package features (purchase propensity, churn risk)
// with its calibration, and the CLV models. An artefact scores and explains a feature
// vector; it serialises to JSON for the registry.
//
// Artefacts are immutable after training and safe for concurrent use.
package model

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/stratahq/strata/services/prediction/features"
	"github.com/stratahq/strata/services/prediction/learn"
)

// Learner names a learning algorithm.
type Learner string

// Learners.
const (
	GradientBoostedTrees Learner = "gradient_boosted_trees"
	RandomForest         Learner = "random_forest"
	LogisticRegression   Learner = "logistic_regression"
)

// Learners lists every learner, in report order.
func Learners() []Learner { return []Learner{GradientBoostedTrees, RandomForest, LogisticRegression} }

// ErrUnknownLearner is returned for a learner name this package does not know.
var ErrUnknownLearner = errors.New("model: unknown learner")

// Spec says how to train a classifier.
type Spec struct {
	Learner  Learner
	GBT      learn.GBTConfig
	Forest   learn.ForestConfig
	Logistic learn.LogisticConfig
	// Calibration is the probability calibration; empty leaves scores as they are.
	Calibration learn.Method
	// CalibrationFolds is the number of inner folds whose out-of-fold scores fit the
	// calibrator; default 3.
	CalibrationFolds int
	Seed             uint64
}

// PropensitySpec returns the settings chosen on the CDNOW propensity task (small, noisy
// data: shallow boosting, large forest leaves, log inputs for the linear model, trees
// held to features.PurchaseMonotone) with Platt calibration, which keeps rankings
// intact.
func PropensitySpec(l Learner, seed uint64) Spec {
	return defaultSpec(l, seed, features.PurchaseMonotone[:])
}

// ChurnSpec returns PropensitySpec's settings with the monotone constraints reversed:
// what raises the odds of buying lowers the risk of leaving.
func ChurnSpec(l Learner, seed uint64) Spec {
	mono := make([]int8, len(features.PurchaseMonotone))
	for i, m := range features.PurchaseMonotone {
		mono[i] = -m
	}
	return defaultSpec(l, seed, mono)
}

func defaultSpec(l Learner, seed uint64, mono []int8) Spec {
	return Spec{
		Learner: l,
		GBT: learn.GBTConfig{
			Trees: 300, LearningRate: 0.01, MaxDepth: 1, MinLeaf: 50, Lambda: 1, Subsample: 0.5, FeatureFrac: 0.5,
			Seed: seed, Monotone: mono,
		},
		Forest:      learn.ForestConfig{Trees: 500, MinLeaf: 1, FeatureFrac: 0.3, Seed: seed, Monotone: mono},
		Logistic:    learn.LogisticConfig{C: 1, Log1p: true},
		Calibration: learn.MethodPlatt,
		Seed:        seed,
	}
}

// Trainer returns the spec's uncalibrated learner.
func (s Spec) trainer() (learn.Trainer, error) {
	switch s.Learner {
	case GradientBoostedTrees:
		return func(ctx context.Context, X [][]float64, y []float64) (learn.Classifier, error) {
			return learn.FitGBT(ctx, X, y, s.GBT)
		}, nil
	case RandomForest:
		return func(ctx context.Context, X [][]float64, y []float64) (learn.Classifier, error) {
			return learn.FitForest(ctx, X, y, s.Forest)
		}, nil
	case LogisticRegression:
		return func(ctx context.Context, X [][]float64, y []float64) (learn.Classifier, error) {
			return learn.FitLogistic(ctx, X, y, s.Logistic)
		}, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownLearner, s.Learner)
}

// Classifier is a trained, calibrated binary model over the feature vector.
type Classifier struct {
	Learner  Learner         `json:"learner"`
	Features []string        `json:"features"`
	GBT      *learn.GBT      `json:"gbt,omitempty"`
	Forest   *learn.Forest   `json:"forest,omitempty"`
	Logistic *learn.Logistic `json:"logistic,omitempty"`
	Platt    *learn.Platt    `json:"platt,omitempty"`
	Isotonic *learn.Isotonic `json:"isotonic,omitempty"`
	// Constant is set instead of a learner when the training labels had a single
	// class: the smoothed positive rate.
	Constant *float64 `json:"constant,omitempty"`
}

// Train fits a classifier to X, y as spec says. Labels of a single class give a
// constant classifier (the smoothed positive rate), and calibration is skipped when a
// class has fewer examples than calibration folds, so that any cutoff of a history
// yields a model.
func Train(ctx context.Context, spec Spec, X [][]float64, y []float64) (*Classifier, error) {
	train, err := spec.trainer()
	if err != nil {
		return nil, err
	}
	if len(X) == 0 {
		return nil, learn.ErrNoData
	}
	var pos int
	for _, v := range y {
		if v == 1 {
			pos++
		}
	}
	if pos == 0 || pos == len(y) {
		rate := (float64(pos) + 0.5) / (float64(len(y)) + 1)
		return &Classifier{Learner: spec.Learner, Constant: &rate}, nil
	}
	folds := spec.CalibrationFolds
	if folds < 2 {
		folds = 3
	}
	if pos < folds || len(y)-pos < folds {
		spec.Calibration = ""
	}
	var (
		raw learn.Classifier
		cal learn.Calibrator
	)
	if spec.Calibration != "" {
		c, err := learn.FitCalibrated(ctx, train, X, y, spec.Calibration, spec.CalibrationFolds, spec.Seed)
		if err != nil {
			return nil, err
		}
		raw, cal = c.Model, c.Calibrator
	} else if raw, err = train(ctx, X, y); err != nil {
		return nil, err
	}
	c := &Classifier{Learner: spec.Learner, Features: features.Names[:]}
	if len(X[0]) != len(c.Features) {
		c.Features = nil // a caller's own feature set; names unknown
	}
	switch m := raw.(type) {
	case *learn.GBT:
		c.GBT = m
	case *learn.Forest:
		c.Forest = m
	case *learn.Logistic:
		c.Logistic = m
	}
	switch k := cal.(type) {
	case learn.Platt:
		c.Platt = &k
	case learn.Isotonic:
		c.Isotonic = &k
	}
	return c, nil
}

// raw returns the uncalibrated probability.
func (c *Classifier) raw(x []float64) float64 {
	switch {
	case c.Constant != nil:
		return *c.Constant
	case c.GBT != nil:
		return c.GBT.Predict(x)
	case c.Forest != nil:
		return c.Forest.Predict(x)
	case c.Logistic != nil:
		return c.Logistic.Predict(x)
	}
	return math.NaN()
}

func (c *Classifier) calibrate(p float64) float64 {
	switch {
	case c.Platt != nil:
		return c.Platt.Calibrate(p)
	case c.Isotonic != nil:
		return c.Isotonic.Calibrate(p)
	}
	return p
}

// Calibration names the classifier's probability calibration: "platt", "isotonic", or
// "" when scores are uncalibrated.
func (c *Classifier) Calibration() learn.Method {
	switch {
	case c.Platt != nil:
		return learn.MethodPlatt
	case c.Isotonic != nil:
		return learn.MethodIsotonic
	}
	return ""
}

// Predict returns the calibrated probability of the positive class.
func (c *Classifier) Predict(x []float64) float64 { return c.calibrate(c.raw(x)) }

// Explanation splits a calibrated probability into a base value and per-feature
// contributions: Base + Σ Contributions = Score.
type Explanation struct {
	Base          float64
	Score         float64
	Contributions []float64
}

// Explain explains the calibrated probability of x. The contributions are exact
// SHAP values of the learner's raw output (TreeSHAP for trees, closed form for the
// linear model) — log-odds for boosting and logistic regression, probability for the
// forest — rescaled by one common factor into probability units so that they add up
// to Score − Base, where Base is the calibrated probability at the raw base value.
func (c *Classifier) Explain(x []float64) Explanation {
	var (
		e      learn.Explanation
		toProb = sigmoid
	)
	switch {
	case c.Constant != nil:
		return Explanation{Base: *c.Constant, Score: *c.Constant, Contributions: make([]float64, len(x))}
	case c.GBT != nil:
		e = c.GBT.Explain(x)
	case c.Forest != nil:
		e = c.Forest.Explain(x)
		toProb = func(p float64) float64 { return p }
	case c.Logistic != nil:
		e = c.Logistic.Explain(x)
	default:
		return Explanation{}
	}
	out := Explanation{Base: c.calibrate(toProb(e.Base)), Score: c.calibrate(toProb(e.Output))}
	delta := e.Output - e.Base
	var scale float64
	if math.Abs(delta) > 1e-12 {
		scale = (out.Score - out.Base) / delta
	} else {
		// No net change: use the local slope so the split still shows.
		h := 1e-6
		scale = (c.calibrate(toProb(e.Output+h)) - c.calibrate(toProb(e.Output-h))) / (2 * h)
	}
	out.Contributions = make([]float64, len(e.Contributions))
	for i, v := range e.Contributions {
		out.Contributions[i] = v * scale
	}
	return out
}

// Driver is one feature's share of a score, for people.
type Driver struct {
	Feature      string
	Index        int
	Value        float64
	Contribution float64
}

// TopDrivers returns the n contributions of largest magnitude, largest first.
func TopDrivers(e Explanation, x []float64, n int) []Driver {
	idx := make([]int, len(e.Contributions))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		return math.Abs(e.Contributions[idx[a]]) > math.Abs(e.Contributions[idx[b]])
	})
	var out []Driver
	for _, i := range idx[:min(n, len(idx))] {
		name := fmt.Sprintf("feature_%d", i)
		if i < len(features.Names) {
			name = features.Names[i]
		}
		out = append(out, Driver{Feature: name, Index: i, Value: x[i], Contribution: e.Contributions[i]})
	}
	return out
}

// Sentence says in plain words what a driver did to a score, such as "45 days since
// the last order lowered purchase propensity by 0.12".
func (d Driver) Sentence(scoreName string) string {
	verb := "raised"
	if d.Contribution < 0 {
		verb = "lowered"
	}
	what := features.Describe(d.Index, d.Value)
	if d.Index >= len(features.Names) {
		what = fmt.Sprintf("%s = %g", d.Feature, d.Value)
	}
	return fmt.Sprintf("%s %s %s by %.2f", what, verb, scoreName, math.Abs(d.Contribution))
}

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}
