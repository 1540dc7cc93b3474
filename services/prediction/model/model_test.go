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
