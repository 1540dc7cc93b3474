package learn

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"

	"gonum.org/v1/gonum/optimize"
)

// Calibrator maps a raw score to a calibrated probability.
type Calibrator interface {
	Calibrate(score float64) float64
}

// Platt is Platt scaling: p = σ(A·logit(score) + B). It is strictly increasing for
// A > 0, so it never changes a ranking (nor the AUC).
type Platt struct {
	A, B float64
}

// Calibrate implements Calibrator.
func (p Platt) Calibrate(score float64) float64 { return sigmoid(p.A*logit(score) + p.B) }

// FitPlatt fits Platt scaling to scores and labels with Platt's smoothed targets.
func FitPlatt(scores, y []float64) (Platt, error) {
	if len(scores) == 0 || len(scores) != len(y) {
		return Platt{}, fmt.Errorf("%w: %d scores, %d labels", ErrShape, len(scores), len(y))
	}
	var pos float64
	for _, v := range y {
		pos += v
	}
	neg := float64(len(y)) - pos
	hi, lo := (pos+1)/(pos+2), 1/(neg+2)
	s := make([]float64, len(scores))
	t := make([]float64, len(scores))
	for i := range scores {
		s[i] = logit(scores[i])
		t[i] = lo
		if y[i] == 1 {
			t[i] = hi
		}
	}
	f := func(x, grad []float64) float64 {
		var loss float64
		if grad != nil {
			clear(grad)
		}
		for i := range s {
			z := x[0]*s[i] + x[1]
			p := sigmoid(z)
			loss -= t[i]*math.Log(math.Max(p, 1e-300)) + (1-t[i])*math.Log(math.Max(1-p, 1e-300))
			if grad != nil {
				grad[0] += (p - t[i]) * s[i]
				grad[1] += p - t[i]
			}
		}
		return loss
	}
	res, err := optimize.Minimize(optimize.Problem{
		Func: func(x []float64) float64 { return f(x, nil) },
		Grad: func(g, x []float64) { f(x, g) },
	}, []float64{1, 0}, &optimize.Settings{GradientThreshold: 1e-8}, &optimize.BFGS{})
	if res == nil || math.IsNaN(res.F) {
		return Platt{}, fmt.Errorf("learn: Platt scaling did not converge: %v", err)
	}
	return Platt{A: res.X[0], B: res.X[1]}, nil
}

// Isotonic is isotonic regression: a non-decreasing step function from score to
// probability, fitted by pool-adjacent-violators; between steps it interpolates.
type Isotonic struct {
	// X are the step positions (ascending) and Y their probabilities.
	X, Y []float64
}

// Calibrate implements Calibrator.
func (c Isotonic) Calibrate(score float64) float64 {
	n := len(c.X)
	if n == 0 {
		return score
	}
	if score <= c.X[0] {
		return c.Y[0]
	}
	if score >= c.X[n-1] {
		return c.Y[n-1]
	}
	i := sort.SearchFloat64s(c.X, score)
	x0, x1, y0, y1 := c.X[i-1], c.X[i], c.Y[i-1], c.Y[i]
	return y0 + (y1-y0)*(score-x0)/(x1-x0)
}

// FitIsotonic fits isotonic regression of labels on scores.
func FitIsotonic(scores, y []float64) (Isotonic, error) {
	if len(scores) == 0 || len(scores) != len(y) {
		return Isotonic{}, fmt.Errorf("%w: %d scores, %d labels", ErrShape, len(scores), len(y))
	}
	order := make([]int, len(scores))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmpFloat(scores[a], scores[b]) })
	type block struct{ sumY, w, lo, hi float64 }
	var blocks []block
	for _, i := range order {
		b := block{sumY: y[i], w: 1, lo: scores[i], hi: scores[i]}
		// Equal scores share a block.
		if k := len(blocks) - 1; k >= 0 && blocks[k].hi == b.lo {
			blocks[k].sumY += b.sumY
			blocks[k].w += b.w
		} else {
			blocks = append(blocks, b)
		}
		for len(blocks) > 1 {
			k := len(blocks) - 1
			if blocks[k-1].sumY/blocks[k-1].w <= blocks[k].sumY/blocks[k].w {
				break
			}
			blocks[k-1].sumY += blocks[k].sumY
			blocks[k-1].w += blocks[k].w
			blocks[k-1].hi = blocks[k].hi
			blocks = blocks[:k]
		}
	}
	var c Isotonic
	for _, b := range blocks {
		v := b.sumY / b.w
		c.X = append(c.X, b.lo)
		c.Y = append(c.Y, v)
		if b.hi > b.lo {
			c.X = append(c.X, b.hi)
			c.Y = append(c.Y, v)
		}
	}
	return c, nil
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Calibrated is a classifier whose scores go through a calibrator.
type Calibrated struct {
	Model      Classifier
	Calibrator Calibrator
	// OutOfFold are the raw out-of-fold scores of the training examples that the
	// calibrator was fitted on, in training order.
	OutOfFold []float64
}

// Predict implements Classifier.
func (c *Calibrated) Predict(x []float64) float64 {
	return c.Calibrator.Calibrate(c.Model.Predict(x))
}

// Trainer fits a classifier; the learners' Fit functions adapt to it.
type Trainer func(ctx context.Context, X [][]float64, y []float64) (Classifier, error)

// Method names a calibration method.
type Method string

// Calibration methods.
const (
	MethodPlatt    Method = "platt"
	MethodIsotonic Method = "isotonic"
)

// FitCalibrated trains a model on all of X and a calibrator on out-of-fold scores of
// folds models trained on the rest (so the calibrator never sees scores of examples
// the scoring model trained on).
func FitCalibrated(ctx context.Context, train Trainer, X [][]float64, y []float64, method Method, folds int, seed uint64) (*Calibrated, error) {
	if folds < 2 {
		folds = 3
	}
	oof, err := CrossValPredict(ctx, train, X, y, folds, seed)
	if err != nil {
		return nil, err
	}
	model, err := train(ctx, X, y)
	if err != nil {
		return nil, err
	}
	var cal Calibrator
	switch method {
	case MethodIsotonic:
		cal, err = FitIsotonic(oof, y)
	default:
		cal, err = FitPlatt(oof, y)
	}
	if err != nil {
		return nil, err
	}
	return &Calibrated{Model: model, Calibrator: cal, OutOfFold: oof}, nil
}
