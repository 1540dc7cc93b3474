package learn_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stratahq/strata/services/prediction/learn"
	"github.com/stratahq/strata/services/prediction/metrics"
)

// synthetic draws n examples of d features where the log-odds are a non-linear
// function of the first three features; the rest are noise.
func synthetic(n, d int, seed uint64) ([][]float64, []float64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	X := make([][]float64, n)
	y := make([]float64, n)
	for i := range n {
		x := make([]float64, d)
		for j := range x {
			x[j] = rng.NormFloat64()
		}
		z := 1.5*x[0] - 1.0*x[1]*x[1] + 1 + 0.8*math.Max(x[2], 0)
		if rng.Float64() < 1/(1+math.Exp(-z)) {
			y[i] = 1
		}
		X[i] = x
	}
	return X, y
}

func auc(t *testing.T, m learn.Classifier, X [][]float64, y []float64) float64 {
	t.Helper()
	s := make([]float64, len(X))
	for i, x := range X {
		s[i] = m.Predict(x)
	}
	a, err := metrics.AUC(s, y)
	if err != nil {
		t.Fatalf("AUC: %v", err)
	}
	return a
}

func TestLearnersBeatChanceAndTreesFindNonLinearity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	X, y := synthetic(2000, 6, 1)
	Xt, yt := synthetic(1000, 6, 2)
	gbt, err := learn.FitGBT(ctx, X, y, learn.GBTConfig{Seed: 1, Trees: 100, LearningRate: 0.1})
	if err != nil {
		t.Fatalf("FitGBT: %v", err)
	}
	forest, err := learn.FitForest(ctx, X, y, learn.ForestConfig{Seed: 1, Trees: 50, MinLeaf: 10})
	if err != nil {
		t.Fatalf("FitForest: %v", err)
	}
	lr, err := learn.FitLogistic(ctx, X, y, learn.LogisticConfig{})
	if err != nil {
		t.Fatalf("FitLogistic: %v", err)
	}
	aGBT, aRF, aLR := auc(t, gbt, Xt, yt), auc(t, forest, Xt, yt), auc(t, lr, Xt, yt)
	for name, a := range map[string]float64{"gbt": aGBT, "forest": aRF, "logistic": aLR} {
		if a < 0.7 {
			t.Errorf("%s held-out AUC: got %.3f, want >= 0.7", name, a)
		}
	}
	// x1² is invisible to a linear model: the trees must beat it.
	if aGBT <= aLR || aRF <= aLR {
		t.Errorf("held-out AUC gbt %.3f forest %.3f, want both above logistic %.3f", aGBT, aRF, aLR)
	}
}

func TestLogisticRecoversCoefficients(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 3))
	n := 20000
	X := make([][]float64, n)
	y := make([]float64, n)
	for i := range n {
		x := []float64{rng.NormFloat64(), rng.NormFloat64(), 5}
		if rng.Float64() < 1/(1+math.Exp(-(0.5+2*x[0]-x[1]))) {
			y[i] = 1
		}
		X[i] = x
	}
	m, err := learn.FitLogistic(context.Background(), X, y, learn.LogisticConfig{C: 1e6})
	if err != nil {
		t.Fatalf("FitLogistic: %v", err)
	}
	// Weights are on standardised inputs; the inputs have unit variance.
	want := []float64{2, -1, 0}
	for j, w := range want {
		got := m.Weights[j] / m.Scale[j]
		if math.Abs(got-w) > 0.1 {
			t.Errorf("weight %d: got %.3f, want %.3f ±0.1", j, got, w)
		}
	}
}

func TestTrainingIsDeterministic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	X, y := synthetic(500, 4, 5)
	f1, _ := learn.FitForest(ctx, X, y, learn.ForestConfig{Seed: 9, Trees: 20})
	f2, _ := learn.FitForest(ctx, X, y, learn.ForestConfig{Seed: 9, Trees: 20})
	g1, _ := learn.FitGBT(ctx, X, y, learn.GBTConfig{Seed: 9, Trees: 20})
	g2, _ := learn.FitGBT(ctx, X, y, learn.GBTConfig{Seed: 9, Trees: 20})
	for i, x := range X[:50] {
		if a, b := f1.Predict(x), f2.Predict(x); a != b {
			t.Fatalf("forest row %d: got %v and %v from the same seed", i, a, b)
		}
		if a, b := g1.Predict(x), g2.Predict(x); a != b {
			t.Fatalf("gbt row %d: got %v and %v from the same seed", i, a, b)
		}
	}
}

func TestFitErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	X, y := synthetic(100, 3, 1)
	tests := []struct {
		name string
		fit  func() error
		want error
	}{
		{"no data", func() error { _, err := learn.FitGBT(ctx, nil, nil, learn.GBTConfig{}); return err }, learn.ErrNoData},
		{"ragged rows", func() error {
			_, err := learn.FitForest(ctx, [][]float64{{1, 2}, {1}}, []float64{0, 1}, learn.ForestConfig{})
			return err
		}, learn.ErrShape},
		{"label not 0/1", func() error {
			_, err := learn.FitLogistic(ctx, [][]float64{{1}, {2}}, []float64{0, 2}, learn.LogisticConfig{})
			return err
		}, learn.ErrShape},
		{"one class", func() error {
			_, err := learn.FitGBT(ctx, [][]float64{{1}, {2}}, []float64{1, 1}, learn.GBTConfig{})
			return err
		}, learn.ErrOneClass},
		{"cancelled gbt", func() error { _, err := learn.FitGBT(cancelled, X, y, learn.GBTConfig{}); return err }, context.Canceled},
		{"cancelled forest", func() error { _, err := learn.FitForest(cancelled, X, y, learn.ForestConfig{}); return err }, context.Canceled},
	}
	for _, tt := range tests {
		if err := tt.fit(); !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
	}
}

// bruteShapley computes exact Shapley values of the tree's path-dependent value
// function v(S) = E[f(x) | x_S], the expectation following covers where a feature is
// not in S, by enumerating every subset.
func bruteShapley(tr *learn.Tree, x []float64) []float64 {
	d := len(x)
	var value func(node int, s uint) float64
	value = func(node int, s uint) float64 {
		n := tr.Nodes[node]
		if n.Left < 0 {
			return n.Value
		}
		if s&(1<<n.Feature) != 0 {
			if x[n.Feature] <= n.Threshold {
				return value(int(n.Left), s)
			}
			return value(int(n.Right), s)
		}
		l, r := tr.Nodes[n.Left], tr.Nodes[n.Right]
		return (l.Cover*value(int(n.Left), s) + r.Cover*value(int(n.Right), s)) / n.Cover
	}
	fact := func(k int) float64 {
		f := 1.0
		for i := 2; i <= k; i++ {
			f *= float64(i)
		}
		return f
	}
	phi := make([]float64, d)
	for i := range d {
		for s := uint(0); s < 1<<d; s++ {
			if s&(1<<i) != 0 {
				continue
			}
			k := popcount(s)
			w := fact(k) * fact(d-k-1) / fact(d)
			phi[i] += w * (value(0, s|1<<i) - value(0, s))
		}
	}
	return phi
}

func popcount(s uint) int {
	n := 0
	for ; s != 0; s &= s - 1 {
		n++
	}
	return n
}

func TestTreeSHAPMatchesBruteForceShapley(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// Deep trees that reuse features on a path exercise the unwind step.
	X, y := synthetic(800, 5, 11)
	forest, err := learn.FitForest(ctx, X, y, learn.ForestConfig{Seed: 3, Trees: 5, MinLeaf: 10, MaxDepth: 8, FeatureFrac: 1})
	if err != nil {
		t.Fatalf("FitForest: %v", err)
	}
	for ti := range forest.Trees {
		tr := &forest.Trees[ti]
		for _, x := range X[:20] {
			got := tr.Explain(x)
			want := bruteShapley(tr, x)
			for j := range want {
				if math.Abs(got.Contributions[j]-want[j]) > 1e-9 {
					t.Fatalf("tree %d feature %d: got %.12f, want %.12f", ti, j, got.Contributions[j], want[j])
				}
			}
		}
	}
}

func TestExplanationsSumToOutputMinusBase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	X, y := synthetic(1000, 6, 21)
	gbt, _ := learn.FitGBT(ctx, X, y, learn.GBTConfig{Seed: 1, Trees: 30, MaxDepth: 4, LearningRate: 0.2})
	forest, _ := learn.FitForest(ctx, X, y, learn.ForestConfig{Seed: 1, Trees: 10, MinLeaf: 5})
	lr, _ := learn.FitLogistic(ctx, X, y, learn.LogisticConfig{Log1p: true})
	models := []struct {
		name    string
		explain func([]float64) learn.Explanation
		raw     func([]float64) float64
	}{
		{"gbt", gbt.Explain, gbt.Margin},
		{"forest", forest.Explain, forest.Predict},
		{"logistic", lr.Explain, lr.Margin},
	}
	for _, m := range models {
		for i, x := range X[:40] {
			e := m.explain(x)
			sum := e.Base
			for _, c := range e.Contributions {
				sum += c
			}
			if raw := m.raw(x); math.Abs(sum-raw) > 1e-9 || math.Abs(e.Output-raw) > 1e-9 {
				t.Fatalf("%s row %d: base+Σφ = %.12f, output %.12f, want both %.12f", m.name, i, sum, e.Output, raw)
			}
		}
	}
	// Noise features matter less than the signal on average.
	var signal, noise float64
	for _, x := range X[:100] {
		e := gbt.Explain(x)
		signal += math.Abs(e.Contributions[0])
		noise += math.Abs(e.Contributions[5])
	}
	if signal <= 3*noise {
		t.Errorf("mean |φ| of the signal feature %.4f, want well above the noise feature's %.4f", signal/100, noise/100)
	}
}

func TestCalibration(t *testing.T) {
	t.Parallel()
	// Scores that are systematically overconfident: p_true = σ(logit(s)/3).
	rng := rand.New(rand.NewPCG(4, 4))
	n := 5000
	scores, y := make([]float64, n), make([]float64, n)
	for i := range n {
		z := rng.NormFloat64() * 6
		scores[i] = 1 / (1 + math.Exp(-z))
		if rng.Float64() < 1/(1+math.Exp(-z/3)) {
			y[i] = 1
		}
	}
	before, _ := metrics.LogLoss(scores, y)
	platt, err := learn.FitPlatt(scores, y)
	if err != nil {
		t.Fatalf("FitPlatt: %v", err)
	}
	iso, err := learn.FitIsotonic(scores, y)
	if err != nil {
		t.Fatalf("FitIsotonic: %v", err)
	}
	for name, c := range map[string]learn.Calibrator{"platt": platt, "isotonic": iso} {
		cal := make([]float64, n)
		for i, s := range scores {
			cal[i] = c.Calibrate(s)
		}
		after, _ := metrics.LogLoss(cal, y)
		if after >= before {
			t.Errorf("%s: log loss %.4f after calibration, want below %.4f", name, after, before)
		}
		// Monotone: a higher score never gets a lower probability.
		sorted := slices.Clone(scores)
		slices.Sort(sorted)
		for i := 1; i < len(sorted); i++ {
			if c.Calibrate(sorted[i]) < c.Calibrate(sorted[i-1])-1e-12 {
				t.Fatalf("%s not monotone at %v", name, sorted[i])
			}
		}
	}
	if math.Abs(platt.A-1.0/3) > 0.05 {
		t.Errorf("Platt slope: got %.3f, want about 1/3", platt.A)
	}
}

func TestStratifiedFolds(t *testing.T) {
	t.Parallel()
	y := make([]float64, 1000)
	for i := range 290 {
		y[i] = 1
	}
	folds := learn.StratifiedFolds(y, 5, 42)
	pos, all := make([]int, 5), make([]int, 5)
	for i, f := range folds {
		all[f]++
		pos[f] += int(y[i])
	}
	for f := range 5 {
		if all[f] != 200 || pos[f] != 58 {
			t.Errorf("fold %d: %d examples, %d positives; want 200 and 58", f, all[f], pos[f])
		}
	}
	if slices.Equal(folds, learn.StratifiedFolds(y, 5, 43)) {
		t.Errorf("seeds 42 and 43 gave the same folds")
	}
	if !slices.Equal(folds, learn.StratifiedFolds(y, 5, 42)) {
		t.Errorf("seed 42 twice gave different folds")
	}
}

func TestFitCalibratedScoresInRange(t *testing.T) {
	t.Parallel()
	X, y := synthetic(600, 4, 8)
	train := func(ctx context.Context, X [][]float64, y []float64) (learn.Classifier, error) {
		return learn.FitGBT(ctx, X, y, learn.GBTConfig{Trees: 30, Seed: 1})
	}
	for _, method := range []learn.Method{learn.MethodPlatt, learn.MethodIsotonic} {
		m, err := learn.FitCalibrated(context.Background(), train, X, y, method, 3, 1)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		for _, x := range X[:50] {
			if p := m.Predict(x); !(p >= 0 && p <= 1) {
				t.Fatalf("%s: probability %v out of [0, 1]", method, p)
			}
		}
	}
}
