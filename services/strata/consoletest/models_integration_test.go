//go:build integration

package consoletest_test

import (
	"cmp"
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stratahq/strata/services/prediction/features"
	"github.com/stratahq/strata/services/prediction/metrics"
	"github.com/stratahq/strata/services/prediction/model"
	"github.com/stratahq/strata/services/prediction/registry"
	"github.com/stratahq/strata/services/prediction/scoring"
)

// seededModelVersion names the propensity version seedModel registers.
const seededModelVersion = "console-test-seeded"

// seedModel registers and promotes a purchase propensity model in the model registry
// the suite will open under dataDir, with its validation report (calibration curve,
// ROC curve, feature importance). The world the test seeds is too small and too short
// for the prediction service to train propensity itself (it needs 200 examples at two
// cut-offs), yet the models page must show a promoted classifier's report: the model is
// a real one, trained on synthetic features, and the service loads and serves it like
// any other. How the service computes the report is tested in services/prediction.
func seedModel(t *testing.T, dataDir string) {
	t.Helper()
	reg, err := registry.Open(registry.Config{Dir: filepath.Join(dataDir, "models")})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 11))
	sample := func(n int) ([][]float64, []float64) {
		X, y := make([][]float64, n), make([]float64, n)
		for i := range X {
			x := make([]float64, features.Count)
			for k := range x {
				x[k] = rng.Float64()
			}
			X[i] = x
			if 1.5*x[0]+x[1]+0.8*rng.NormFloat64() > 1.3 {
				y[i] = 1
			}
		}
		return X, y
	}
	trainX, trainY := sample(400)
	valX, valY := sample(400)
	clf, err := model.Train(context.Background(), model.PropensitySpec(model.GradientBoostedTrees, 1), trainX, trainY)
	if err != nil {
		t.Fatalf("train the seeded model: %v", err)
	}
	scores := make([]float64, len(valX))
	importance := make([]registry.Importance, features.Count)
	var pos float64
	for i, x := range valX {
		scores[i] = clf.Predict(x)
		pos += valY[i]
		for k, c := range clf.Explain(x).Contributions {
			importance[k].MeanAbsContribution += math.Abs(c) / float64(len(valX))
		}
	}
	for k := range importance {
		importance[k].Feature = features.Names[k]
	}
	slices.SortFunc(importance, func(a, b registry.Importance) int {
		return cmp.Compare(b.MeanAbsContribution, a.MeanAbsContribution)
	})
	rep, err := metrics.Evaluate(scores, valY)
	if err != nil {
		t.Fatal(err)
	}
	roc, err := metrics.ROCCurve(scores, valY, 101)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	v := registry.Version{
		Model: scoring.ModelPropensity, Version: seededModelVersion, Learner: string(model.GradientBoostedTrees),
		Features: features.Names[:], TrainedAt: now, WindowStart: now.AddDate(0, -2, 0), WindowEnd: now,
		Metrics: map[string]float64{"auc": rep.AUC, "log_loss": rep.LogLoss, "brier": rep.Brier,
			"precision_at_top_decile": rep.PrecisionAtTopDecile, "examples": float64(len(valY)), "positives": pos},
		Validation: &registry.Validation{Cutoff: now.AddDate(0, -1, 0), Examples: len(valY), Positives: int(pos),
			Calibration: string(clf.Calibration()), Curve: rep.CalibrationCurve, ROC: roc, Importance: importance},
	}
	if err := reg.Register(v, clf); err != nil {
		t.Fatal(err)
	}
	if err := reg.Promote(v.Model, v.Version); err != nil {
		t.Fatal(err)
	}
}
