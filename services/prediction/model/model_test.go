package model_test

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stratahq/strata/services/prediction/features"
	"github.com/stratahq/strata/services/prediction/model"
)

func data(n int) ([][]float64, []float64) {
	rng := rand.New(rand.NewPCG(1, 2))
	X := make([][]float64, n)
	y := make([]float64, n)
	for i := range n {
		x := make([]float64, features.Count)
		for j := range x {
			x[j] = rng.Float64() * 100
		}
		z := 0.05*x[features.OrderDays] - 0.04*x[features.DaysSinceLastOrder] + 0.5
		if rng.Float64() < 1/(1+math.Exp(-z)) {
			y[i] = 1
		}
		X[i] = x
	}
	return X, y
}

func TestTrainRoundTripExplain(t *testing.T) {
	t.Parallel()
	X, y := data(600)
	for _, l := range model.Learners() {
		t.Run(string(l), func(t *testing.T) {
			t.Parallel()
			spec := model.PropensitySpec(l, 1)
			spec.GBT.Trees, spec.Forest.Trees = 40, 20
			c, err := model.Train(context.Background(), spec, X, y)
			if err != nil {
				t.Fatalf("Train: %v", err)
			}
			b, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			var back model.Classifier
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			for _, x := range X[:30] {
				p, q := c.Predict(x), back.Predict(x)
				if p != q || !(p > 0 && p < 1) {
					t.Fatalf("Predict: %v, after JSON %v; want equal, in (0, 1)", p, q)
				}
				e := back.Explain(x)
				sum := e.Base
				for _, v := range e.Contributions {
					sum += v
				}
				if math.Abs(sum-e.Score) > 1e-9 || math.Abs(e.Score-p) > 1e-9 {
					t.Fatalf("Explain: base + Σ = %v, score %v, predict %v", sum, e.Score, p)
				}
			}
			// The features that drive the labels lead the explanations on average.
			var lead, other float64
			for _, x := range X[:100] {
				e := back.Explain(x)
				lead += math.Abs(e.Contributions[features.OrderDays]) + math.Abs(e.Contributions[features.DaysSinceLastOrder])
				other += math.Abs(e.Contributions[features.RevenueTotal]) + math.Abs(e.Contributions[features.ItemsTotal])
			}
			if lead <= other {
				t.Errorf("mean |contribution|: drivers %v, noise %v; want drivers above", lead/100, other/100)
			}
		})
	}
}

func TestTopDriversAndSentence(t *testing.T) {
	t.Parallel()
	e := model.Explanation{Base: 0.3, Score: 0.2, Contributions: make([]float64, features.Count)}
	e.Contributions[features.DaysSinceLastOrder] = -0.18
	e.Contributions[features.OrderDays] = 0.08
	x := make([]float64, features.Count)
	x[features.DaysSinceLastOrder], x[features.OrderDays] = 21, 3
	d := model.TopDrivers(e, x, 2)
	if len(d) != 2 || d[0].Feature != "days_since_last_order" || d[1].Feature != "order_days" {
		t.Fatalf("TopDrivers: got %+v", d)
	}
	if got, want := d[0].Sentence("purchase propensity"), "21 days since the last order lowered purchase propensity by 0.18"; got != want {
		t.Errorf("Sentence: got %q, want %q", got, want)
	}
	if got := d[1].Sentence("churn risk"); !strings.Contains(got, "raised churn risk by 0.08") {
		t.Errorf("Sentence: got %q", got)
	}
}

func TestUnknownLearner(t *testing.T) {
	t.Parallel()
	X, y := data(50)
	if _, err := model.Train(context.Background(), model.Spec{Learner: "svm"}, X, y); err == nil {
		t.Errorf("Train with an unknown learner: got nil error")
	}
}

func TestDegenerateLabels(t *testing.T) {
	t.Parallel()
	X, _ := data(40)
	ones := make([]float64, 40)
	for i := range ones {
		ones[i] = 1
	}
	few := make([]float64, 40)
	few[3] = 1 // one positive: too few to calibrate
	for _, l := range model.Learners() {
		for name, y := range map[string][]float64{"one class": ones, "one positive": few} {
			c, err := model.Train(context.Background(), model.PropensitySpec(l, 1), X, y)
			if err != nil {
				t.Fatalf("%s %s: %v", l, name, err)
			}
			p := c.Predict(X[0])
			e := c.Explain(X[0])
			if !(p > 0 && p < 1) || math.Abs(e.Score-p) > 1e-9 {
				t.Errorf("%s %s: predict %v, explained score %v", l, name, p, e.Score)
			}
		}
	}
}

// TestEnsembleAveragesItsMembers checks that an ensemble scores the (weighted) mean of
// its members' calibrated probabilities, that its members are the models each learner
// trains on its own, and that its explanation is the same mean of theirs.
func TestEnsembleAveragesItsMembers(t *testing.T) {
	t.Parallel()
	X, y := data(600)
	ctx := context.Background()
	for _, fit := range []bool{false, true} {
		spec := model.PropensitySpec(model.Ensemble, 1)
		spec.GBT.Trees, spec.Forest.Trees, spec.FitWeights = 40, 20, fit
		c, err := model.Train(ctx, spec, X, y)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Members) != len(model.EnsembleMembers()) || c.Calibration() != "platt" {
			t.Fatalf("fit weights %v: got %d members, calibration %q; want %d, platt", fit, len(c.Members), c.Calibration(), len(model.EnsembleMembers()))
		}
		w := c.Weights
		if !fit {
			if w != nil {
				t.Fatalf("equal mean: got weights %v, want none", w)
			}
			w = []float64{1.0 / 3, 1.0 / 3, 1.0 / 3}
		}
		var total float64
		for k, l := range model.EnsembleMembers() {
			total += w[k]
			if w[k] < 0 || c.Members[k].Learner != l {
				t.Fatalf("member %d: learner %s, weight %v; want %s, non-negative", k, c.Members[k].Learner, w[k], l)
			}
		}
		if math.Abs(total-1) > 1e-9 {
			t.Fatalf("weights %v add up to %v, want 1", w, total)
		}
		alone := spec
		alone.Learner = model.LogisticRegression
		own, err := model.Train(ctx, alone, X, y)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range X[:20] {
			var p, base float64
			contrib := make([]float64, len(x))
			for k, m := range c.Members {
				p += w[k] * m.Predict(x)
				e := m.Explain(x)
				base += w[k] * e.Base
				for j, v := range e.Contributions {
					contrib[j] += w[k] * v
				}
			}
			if got := c.Predict(x); math.Abs(got-p) > 1e-12 {
				t.Fatalf("fit weights %v: Predict %v, weighted mean of members %v", fit, got, p)
			}
			if a, b := c.Members[2].Predict(x), own.Predict(x); a != b {
				t.Fatalf("logistic member scores %v, logistic regression trained alone %v; want equal", a, b)
			}
			e := c.Explain(x)
			sum := e.Base
			for j, v := range e.Contributions {
				sum += v
				if math.Abs(v-contrib[j]) > 1e-12 {
					t.Fatalf("contribution %d: got %v, weighted mean of members %v", j, v, contrib[j])
				}
			}
			if math.Abs(e.Base-base) > 1e-12 || math.Abs(sum-e.Score) > 1e-9 || math.Abs(e.Score-p) > 1e-12 {
				t.Fatalf("Explain: base %v (members %v), base + Σ = %v, score %v, predict %v", e.Base, base, sum, e.Score, p)
			}
		}
	}
}

func TestMixtureWeightsFavourTheInformativeScore(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	n := 2000
	y := make([]float64, n)
	good, noise := make([]float64, n), make([]float64, n)
	for i := range n {
		good[i] = 0.1 + 0.8*rng.Float64()
		if rng.Float64() < good[i] {
			y[i] = 1
		}
		noise[i] = 0.1 + 0.8*rng.Float64()
	}
	w := model.MixtureWeights([][]float64{noise, good}, y, 20)
	if len(w) != 2 || math.Abs(w[0]+w[1]-1) > 1e-9 || !(w[1] >= 0.9) {
		t.Errorf("weights of noise and informative scores: got %v, want at least 0.9 on the informative one, summing to 1", w)
	}
}
