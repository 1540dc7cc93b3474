// Package metrics scores probabilistic binary predictions: ROC AUC and curve, log loss,
// Brier score, precision at the top decile and the calibration curve. Functions are pure and
// safe for concurrent use; they take parallel slices of scores and 0/1 labels.
package metrics

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// ErrShape is returned when scores and labels differ in length or are empty.
var ErrShape = errors.New("metrics: scores and labels must be non-empty and of equal length")

func check(scores, y []float64) error {
	if len(scores) == 0 || len(scores) != len(y) {
		return fmt.Errorf("%w: %d scores, %d labels", ErrShape, len(scores), len(y))
	}
	return nil
}

// AUC returns the area under the ROC curve (the probability that a random positive
// outscores a random negative, ties counting one half). It is NaN with one class only.
func AUC(scores, y []float64) (float64, error) {
	if err := check(scores, y); err != nil {
		return 0, err
	}
	idx := sortedByScore(scores)
	// Mann-Whitney U with average ranks for ties.
	var rankSumPos, pos float64
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && scores[idx[j]] == scores[idx[i]] {
			j++
		}
		avg := float64(i+j+1) / 2 // ranks i+1..j
		for k := i; k < j; k++ {
			if y[idx[k]] == 1 {
				rankSumPos += avg
				pos++
			}
		}
		i = j
	}
	neg := float64(len(y)) - pos
	if pos == 0 || neg == 0 {
		return math.NaN(), nil
	}
	return (rankSumPos - pos*(pos+1)/2) / (pos * neg), nil
}

// LogLoss returns the mean negative log-likelihood, with probabilities clipped to
// [1e-15, 1-1e-15].
func LogLoss(scores, y []float64) (float64, error) {
	if err := check(scores, y); err != nil {
		return 0, err
	}
	var s float64
	for i, p := range scores {
		p = math.Min(math.Max(p, 1e-15), 1-1e-15)
		if y[i] == 1 {
			s -= math.Log(p)
		} else {
			s -= math.Log(1 - p)
		}
	}
	return s / float64(len(y)), nil
}

// Brier returns the mean squared error of the probabilities.
func Brier(scores, y []float64) (float64, error) {
	if err := check(scores, y); err != nil {
		return 0, err
	}
	var s float64
	for i, p := range scores {
		s += (p - y[i]) * (p - y[i])
	}
	return s / float64(len(y)), nil
}

// PrecisionAtTop returns the share of positives among the top frac of scores (at least
// one example).
func PrecisionAtTop(scores, y []float64, frac float64) (float64, error) {
	if err := check(scores, y); err != nil {
		return 0, err
	}
	idx := sortedByScore(scores)
	k := max(1, int(math.Round(frac*float64(len(y)))))
	var pos float64
	for _, i := range idx[len(idx)-k:] {
		pos += y[i]
	}
	return pos / float64(k), nil
}

// Bin is one point of a calibration curve (reliability diagram).
type Bin struct {
	// Lower and Upper bound the bin's scores: [Lower, Upper), the last bin closed.
	Lower float64 `json:"lower"`
	Upper float64 `json:"upper"`
	// MeanPredicted and FractionPositive are the bin's mean score and positive rate.
	MeanPredicted    float64 `json:"mean_predicted"`
	FractionPositive float64 `json:"fraction_positive"`
	Count            int     `json:"count"`
}

// CalibrationCurve splits [0, 1] into bins of equal width and returns the non-empty
// ones.
func CalibrationCurve(scores, y []float64, bins int) ([]Bin, error) {
	if err := check(scores, y); err != nil {
		return nil, err
	}
	if bins <= 0 {
		bins = 10
	}
	sumP, sumY, n := make([]float64, bins), make([]float64, bins), make([]int, bins)
	for i, p := range scores {
		b := min(max(int(p*float64(bins)), 0), bins-1)
		sumP[b] += p
		sumY[b] += y[i]
		n[b]++
	}
	var out []Bin
	for b := range bins {
		if n[b] > 0 {
			out = append(out, Bin{
				Lower: float64(b) / float64(bins), Upper: float64(b+1) / float64(bins),
				MeanPredicted: sumP[b] / float64(n[b]), FractionPositive: sumY[b] / float64(n[b]), Count: n[b],
			})
		}
	}
	return out, nil
}

// ROCPoint is one point of a ROC curve: the rates of scoring at least Threshold.
type ROCPoint struct {
	FalsePositiveRate float64 `json:"fpr"`
	TruePositiveRate  float64 `json:"tpr"`
	Threshold         float64 `json:"threshold"`
}

// ROCCurve returns the ROC curve from (0, 0) to (1, 1), one point per distinct score
// taken as threshold (highest first), thinned to at most maxPoints points (at least 2)
// by keeping the ends and evenly spaced points between. It is nil with one class only.
func ROCCurve(scores, y []float64, maxPoints int) ([]ROCPoint, error) {
	if err := check(scores, y); err != nil {
		return nil, err
	}
	idx := sortedByScore(scores)
	var pos float64
	for _, v := range y {
		pos += v
	}
	neg := float64(len(y)) - pos
	if pos == 0 || neg == 0 {
		return nil, nil
	}
	pts := []ROCPoint{{Threshold: math.Inf(1)}}
	var tp, fp float64
	for i := len(idx) - 1; i >= 0; {
		j := i
		for j >= 0 && scores[idx[j]] == scores[idx[i]] {
			tp += y[idx[j]]
			fp += 1 - y[idx[j]]
			j--
		}
		pts = append(pts, ROCPoint{FalsePositiveRate: fp / neg, TruePositiveRate: tp / pos, Threshold: scores[idx[i]]})
		i = j
	}
	// +Inf does not survive JSON: just above the highest score selects nobody too.
	pts[0].Threshold = math.Nextafter(pts[1].Threshold, math.Inf(1))
	maxPoints = max(maxPoints, 2)
	if len(pts) <= maxPoints {
		return pts, nil
	}
	out := make([]ROCPoint, 0, maxPoints)
	for k := range maxPoints {
		out = append(out, pts[k*(len(pts)-1)/(maxPoints-1)])
	}
	return out, nil
}

// Report gathers the metrics of one model.
type Report struct {
	AUC                  float64 `json:"auc"`
	LogLoss              float64 `json:"log_loss"`
	Brier                float64 `json:"brier"`
	PrecisionAtTopDecile float64 `json:"precision_at_top_decile"`
	// CalibrationCurve is the reliability diagram in ten bins of equal width.
	CalibrationCurve []Bin `json:"calibration_curve,omitempty"`
}

// Evaluate computes a Report.
func Evaluate(scores, y []float64) (Report, error) {
	var r Report
	var err error
	if r.AUC, err = AUC(scores, y); err != nil {
		return r, err
	}
	r.LogLoss, _ = LogLoss(scores, y)
	r.Brier, _ = Brier(scores, y)
	r.PrecisionAtTopDecile, _ = PrecisionAtTop(scores, y, 0.1)
	r.CalibrationCurve, _ = CalibrationCurve(scores, y, 10)
	return r, nil
}

func sortedByScore(scores []float64) []int {
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case scores[a] < scores[b]:
			return -1
		case scores[a] > scores[b]:
			return 1
		}
		return 0
	})
	return idx
}
