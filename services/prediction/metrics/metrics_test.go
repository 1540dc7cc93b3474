package metrics_test

import (
	"errors"
	"math"
	"testing"

	"github.com/stratahq/strata/services/prediction/metrics"
)

func TestAUC(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		scores []float64
		y      []float64
		want   float64
	}{
		{"perfect", []float64{0.1, 0.2, 0.8, 0.9}, []float64{0, 0, 1, 1}, 1},
		{"reversed", []float64{0.9, 0.8, 0.2, 0.1}, []float64{0, 0, 1, 1}, 0},
		{"all tied", []float64{0.5, 0.5, 0.5, 0.5}, []float64{0, 1, 0, 1}, 0.5},
		{"one swap", []float64{0.1, 0.4, 0.35, 0.8}, []float64{0, 0, 1, 1}, 0.75},
		{"tie across classes", []float64{0.1, 0.5, 0.5, 0.9}, []float64{0, 0, 1, 1}, 0.875},
	}
	for _, tt := range tests {
		got, err := metrics.AUC(tt.scores, tt.y)
		if err != nil || math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("%s: got %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
	if got, _ := metrics.AUC([]float64{0.1, 0.2}, []float64{1, 1}); !math.IsNaN(got) {
		t.Errorf("one class: got %v, want NaN", got)
	}
	if _, err := metrics.AUC([]float64{0.1}, nil); !errors.Is(err, metrics.ErrShape) {
		t.Errorf("shape: got %v, want ErrShape", err)
	}
}

func TestReport(t *testing.T) {
	t.Parallel()
	scores := []float64{0.9, 0.8, 0.3, 0.2, 0.1, 0.6, 0.4, 0.7, 0.05, 0.5}
	y := []float64{1, 1, 0, 0, 0, 1, 0, 0, 0, 1}
	r, err := metrics.Evaluate(scores, y)
	if err != nil {
		t.Fatal(err)
	}
	var ll, br float64
	for i, p := range scores {
		if y[i] == 1 {
			ll -= math.Log(p)
		} else {
			ll -= math.Log(1 - p)
		}
		br += (p - y[i]) * (p - y[i])
	}
	if math.Abs(r.LogLoss-ll/10) > 1e-12 || math.Abs(r.Brier-br/10) > 1e-12 {
		t.Errorf("log loss %v brier %v, want %v %v", r.LogLoss, r.Brier, ll/10, br/10)
	}
	if r.PrecisionAtTopDecile != 1 {
		t.Errorf("precision at top decile: got %v, want 1 (the top score is positive)", r.PrecisionAtTopDecile)
	}
	curve, _ := metrics.CalibrationCurve(scores, y, 2)
	if len(curve) != 2 || curve[0].Count+curve[1].Count != 10 {
		t.Errorf("calibration curve: got %+v, want 2 bins covering 10 examples", curve)
	}
	// Scores below 0.5: 0.3 0.2 0.1 0.4 0.05, none positive; at or above: 0.9 0.8 0.6
	// 0.7 0.5, four positive.
	want := []metrics.Bin{
		{Lower: 0, Upper: 0.5, MeanPredicted: 0.21, FractionPositive: 0, Count: 5},
		{Lower: 0.5, Upper: 1, MeanPredicted: 0.7, FractionPositive: 0.8, Count: 5},
	}
	for i, b := range curve {
		w := want[i]
		if b.Lower != w.Lower || b.Upper != w.Upper || b.Count != w.Count ||
			math.Abs(b.MeanPredicted-w.MeanPredicted) > 1e-12 || math.Abs(b.FractionPositive-w.FractionPositive) > 1e-12 {
			t.Errorf("bin %d: got %+v, want %+v", i, b, w)
		}
	}
	if len(r.CalibrationCurve) != 10 {
		t.Errorf("report curve: got %d bins, want 10 (one score per bin)", len(r.CalibrationCurve))
	}
}

func TestROCCurve(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		scores, y []float64
		max       int
		want      [][2]float64 // (fpr, tpr)
	}{
		{"perfect", []float64{0.1, 0.2, 0.8, 0.9}, []float64{0, 0, 1, 1}, 100,
			[][2]float64{{0, 0}, {0, 0.5}, {0, 1}, {0.5, 1}, {1, 1}}},
		{"tie across classes", []float64{0.1, 0.5, 0.5, 0.9}, []float64{0, 0, 1, 1}, 100,
			[][2]float64{{0, 0}, {0, 0.5}, {0.5, 1}, {1, 1}}},
		{"thinned keeps the ends", []float64{0.1, 0.2, 0.8, 0.9}, []float64{0, 0, 1, 1}, 3,
			[][2]float64{{0, 0}, {0, 1}, {1, 1}}},
	}
	for _, tt := range tests {
		got, err := metrics.ROCCurve(tt.scores, tt.y, tt.max)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if len(got) != len(tt.want) {
			t.Fatalf("%s: got %d points %v, want %v", tt.name, len(got), got, tt.want)
		}
		for i, p := range got {
			if p.FalsePositiveRate != tt.want[i][0] || p.TruePositiveRate != tt.want[i][1] {
				t.Errorf("%s: point %d got (%v, %v), want %v", tt.name, i, p.FalsePositiveRate, p.TruePositiveRate, tt.want[i])
			}
			if i > 0 && p.Threshold > got[i-1].Threshold {
				t.Errorf("%s: threshold rises at point %d: got %v after %v", tt.name, i, p.Threshold, got[i-1].Threshold)
			}
		}
		if math.IsInf(got[0].Threshold, 0) {
			t.Errorf("%s: first threshold got %v, want finite", tt.name, got[0].Threshold)
		}
	}
	if got, err := metrics.ROCCurve([]float64{0.1, 0.2}, []float64{1, 1}, 10); err != nil || got != nil {
		t.Errorf("one class: got %v, %v; want nil, nil", got, err)
	}
}
