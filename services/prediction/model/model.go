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
	"slices"
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
	// Ensemble averages the calibrated probabilities of one model of each of the
	// other learners, trained on the same data with the spec's settings for each
	// (Spec.FitWeights weighs them).
	Ensemble Learner = "ensemble"
)

// Learners lists every learner, in report order.
func Learners() []Learner {
	return []Learner{GradientBoostedTrees, RandomForest, LogisticRegression, Ensemble}
}

// EnsembleMembers lists the learners an Ensemble averages, in order.
func EnsembleMembers() []Learner {
	return []Learner{GradientBoostedTrees, RandomForest, LogisticRegression}
}

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
	// FitWeights, for an Ensemble, weighs the members by the convex combination of
	// their calibrated out-of-fold training scores with the lowest log loss; false
	// averages them equally.
	FitWeights bool
	Seed       uint64
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

// trainer returns the spec's uncalibrated learner; an Ensemble has none of its own.
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
	// Members are the calibrated classifiers an Ensemble averages, with Weights
	// (summing to 1); no weights is the plain mean.
	Members []*Classifier `json:"members,omitempty"`
	Weights []float64     `json:"weights,omitempty"`
	// Constant is set instead of a learner when the training labels had a single
	// class: the smoothed positive rate.
	Constant *float64 `json:"constant,omitempty"`
}

// Train fits a classifier to X, y as spec says. Labels of a single class give a
// constant classifier (the smoothed positive rate), and calibration is skipped when a
// class has fewer examples than calibration folds, so that any cutoff of a history
// yields a model.
func Train(ctx context.Context, spec Spec, X [][]float64, y []float64) (*Classifier, error) {
	c, _, err := train(ctx, spec, X, y)
	return c, err
}

// train is Train that also returns the calibrated out-of-fold scores of X the
// calibrator was fitted on, or nil when calibration was skipped.
func train(ctx context.Context, spec Spec, X [][]float64, y []float64) (*Classifier, []float64, error) {
	if !slices.Contains(Learners(), spec.Learner) {
		return nil, nil, fmt.Errorf("%w: %q", ErrUnknownLearner, spec.Learner)
	}
	if len(X) == 0 {
		return nil, nil, learn.ErrNoData
	}
	var pos int
	for _, v := range y {
		if v == 1 {
			pos++
		}
	}
	if pos == 0 || pos == len(y) {
		rate := (float64(pos) + 0.5) / (float64(len(y)) + 1)
		return &Classifier{Learner: spec.Learner, Constant: &rate}, nil, nil
	}
	if spec.Learner == Ensemble {
		// Each member is calibrated; their mean needs no calibrator of its own.
		c, err := trainEnsemble(ctx, spec, X, y)
		return c, nil, err
	}
	fit, err := spec.trainer()
	if err != nil {
		return nil, nil, err
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
		oof []float64
	)
	if spec.Calibration != "" {
		c, err := learn.FitCalibrated(ctx, fit, X, y, spec.Calibration, spec.CalibrationFolds, spec.Seed)
		if err != nil {
			return nil, nil, err
		}
		raw, cal = c.Model, c.Calibrator
		oof = make([]float64, len(c.OutOfFold))
		for i, v := range c.OutOfFold {
			oof[i] = cal.Calibrate(v)
		}
	} else if raw, err = fit(ctx, X, y); err != nil {
		return nil, nil, err
	}
	c := &Classifier{Learner: spec.Learner, Features: featureNames(X)}
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
	return c, oof, nil
}

// featureNames returns features.Names for inputs of that width and nil for a caller's
// own feature set, whose names are unknown.
func featureNames(X [][]float64) []string {
	if len(X[0]) != features.Count {
		return nil
	}
	return features.Names[:]
}

// trainEnsemble trains one classifier per EnsembleMembers learner on X, y with spec's
// settings for it and, with spec.FitWeights, weighs them by their out-of-fold scores.
func trainEnsemble(ctx context.Context, spec Spec, X [][]float64, y []float64) (*Classifier, error) {
	c := &Classifier{Learner: Ensemble, Features: featureNames(X)}
	var scores [][]float64
	for _, l := range EnsembleMembers() {
		s := spec
		s.Learner = l
		m, oof, err := train(ctx, s, X, y)
		if err != nil {
			return nil, fmt.Errorf("model: ensemble member %s: %w", l, err)
		}
		c.Members = append(c.Members, m)
		if oof != nil {
			scores = append(scores, oof)
		}
	}
	if spec.FitWeights && len(scores) == len(c.Members) {
		c.Weights = mixtureWeights(scores, y, 20)
	}
	return c, nil
}

// mixtureWeights returns the convex combination of the members' probabilities
// scores[k][i] with the lowest log loss on labels y, searched on the simplex grid of
// step 1/steps; the first of equal losses wins, the grid starting from all weight on
// the last member.
func mixtureWeights(scores [][]float64, y []float64, steps int) []float64 {
	k := len(scores)
	best, bestLoss := make([]float64, k), math.Inf(1)
	w := make([]float64, k)
	var walk func(j, left int)
	walk = func(j, left int) {
		if j == k-1 {
			w[j] = float64(left) / float64(steps)
			if l := mixtureLogLoss(scores, w, y); l < bestLoss {
				bestLoss = l
				copy(best, w)
			}
			return
		}
		for n := 0; n <= left; n++ {
			w[j] = float64(n) / float64(steps)
			walk(j+1, left-n)
		}
	}
	walk(0, steps)
	return best
}

func mixtureLogLoss(scores [][]float64, w, y []float64) float64 {
	var loss float64
	for i, v := range y {
		var p float64
		for k, s := range scores {
			p += w[k] * s[i]
		}
		p = math.Min(math.Max(p, 1e-12), 1-1e-12)
		if v == 1 {
			loss -= math.Log(p)
		} else {
			loss -= math.Log(1 - p)
		}
	}
	return loss
}

// weight returns member k's weight in an ensemble.
func (c *Classifier) weight(k int) float64 {
	if len(c.Weights) == len(c.Members) {
		return c.Weights[k]
	}
	return 1 / float64(len(c.Members))
}

// raw returns the uncalibrated probability (for an ensemble, the mean of its members'
// calibrated probabilities).
func (c *Classifier) raw(x []float64) float64 {
	switch {
	case c.Constant != nil:
		return *c.Constant
	case len(c.Members) > 0:
		var s float64
		for k, m := range c.Members {
			s += c.weight(k) * m.Predict(x)
		}
		return s
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
// "" when scores are uncalibrated. An ensemble reports its members' calibration when
// they share one.
func (c *Classifier) Calibration() learn.Method {
	if len(c.Members) > 0 {
		m := c.Members[0].Calibration()
		for _, o := range c.Members[1:] {
			if o.Calibration() != m {
				return ""
			}
		}
		return m
	}
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
//
// An ensemble's explanation is on the probability scale: the weighted mean of its
// members' explanations (each already in calibrated probability units, weighted as
// the members' probabilities are), so its Base is the weighted mean of their bases
// and its contributions add up to Score − Base.
func (c *Classifier) Explain(x []float64) Explanation {
	var (
		e      learn.Explanation
		toProb = sigmoid
	)
	switch {
	case c.Constant != nil:
		return Explanation{Base: *c.Constant, Score: *c.Constant, Contributions: make([]float64, len(x))}
	case len(c.Members) > 0:
		return c.explainEnsemble(x)
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

func (c *Classifier) explainEnsemble(x []float64) Explanation {
	out := Explanation{Contributions: make([]float64, len(x))}
	for k, m := range c.Members {
		w := c.weight(k)
		e := m.Explain(x)
		out.Base += w * e.Base
		out.Score += w * e.Score
		for j, v := range e.Contributions {
			out.Contributions[j] += w * v
		}
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
