package evaluate_test

import (
	"context"
	"flag"
	"slices"
	"testing"
	"time"

	"github.com/stratahq/strata/services/prediction/cdnow"
	"github.com/stratahq/strata/services/prediction/evaluate"
	"github.com/stratahq/strata/services/prediction/features"
	"github.com/stratahq/strata/services/prediction/learn"
	"github.com/stratahq/strata/services/prediction/model"
)

var tune = flag.Bool("tune", false, "run the hyperparameter search of model.PropensitySpec on the time-based validation split (about a minute)")

// TestPropensitySpecIsTheValidationChoice re-runs the search that chose
// model.PropensitySpec: a grid per tree learner scored by ValidatePropensity on
// CDNOW_sample before the test cutoff 1997-10-01 (validation cutoffs 1997-05-17 and
// 1997-06-30, labels up to the test cutoff), and checks that the committed settings are
// the grid's best. No test label is read.
//
//	go test ./evaluate -run TestPropensitySpecIsTheValidationChoice -tune -v
func TestPropensitySpecIsTheValidationChoice(t *testing.T) {
	if !*tune {
		t.Skip("slow: run with -tune")
	}
	events := cdnow.Events(sample(t, "CDNOW_sample.txt"))
	cut := time.Date(1997, 10, 1, 0, 0, 0, 0, time.UTC)
	mono := features.PurchaseMonotone[:]
	chosen := map[model.Learner]model.Spec{}
	for _, l := range []model.Learner{model.GradientBoostedTrees, model.RandomForest} {
		chosen[l] = model.PropensitySpec(l, 42)
	}
	var specs []model.Spec
	for _, g := range []learn.GBTConfig{
		{Trees: 300, LearningRate: 0.05, MaxDepth: 1, MinLeaf: 30},
		{Trees: 300, LearningRate: 0.02, MaxDepth: 1, MinLeaf: 50},
		{Trees: 300, LearningRate: 0.02, MaxDepth: 2, MinLeaf: 100},
		{Trees: 300, LearningRate: 0.01, MaxDepth: 2, MinLeaf: 50, Subsample: 0.5, FeatureFrac: 0.5},
		{Trees: 600, LearningRate: 0.01, MaxDepth: 1, MinLeaf: 50, Subsample: 0.5, FeatureFrac: 0.5},
	} {
		g.Seed, g.Monotone = 42, mono
		specs = append(specs, model.Spec{Learner: model.GradientBoostedTrees, GBT: g, Calibration: learn.MethodPlatt})
	}
	for _, f := range []learn.ForestConfig{
		{Trees: 300, MinLeaf: 100}, {Trees: 500, MinLeaf: 10, FeatureFrac: 0.3}, {Trees: 500, MinLeaf: 5}, {Trees: 500, MinLeaf: 3},
	} {
		f.Seed, f.Monotone = 42, mono
		specs = append(specs, model.Spec{Learner: model.RandomForest, Forest: f, Calibration: learn.MethodPlatt})
	}
	specs = append(specs, chosen[model.GradientBoostedTrees], chosen[model.RandomForest])
	res, err := evaluate.ValidatePropensity(context.Background(), events, cut, 5, 42, specs)
	if err != nil {
		t.Fatal(err)
	}
	best := map[model.Learner]evaluate.ValidationResult{}
	for _, r := range res {
		t.Logf("%s validation AUC %.4f %v gbt=%+v forest=%+v", r.Spec.Learner, r.AUC, r.PerCutoff, withoutMonotone(r.Spec).GBT, withoutMonotone(r.Spec).Forest)
		if b, ok := best[r.Spec.Learner]; !ok || r.AUC > b.AUC {
			best[r.Spec.Learner] = r
		}
	}
	for l, want := range chosen {
		got := best[l].Spec
		if got.GBT.Trees != want.GBT.Trees || got.GBT.LearningRate != want.GBT.LearningRate || got.GBT.MaxDepth != want.GBT.MaxDepth ||
			got.GBT.MinLeaf != want.GBT.MinLeaf || got.Forest.MinLeaf != want.Forest.MinLeaf || got.Forest.FeatureFrac != want.Forest.FeatureFrac {
			t.Errorf("%s: validation prefers %+v %+v, PropensitySpec has %+v %+v", l, got.GBT, got.Forest, want.GBT, want.Forest)
		}
	}
}

func withoutMonotone(s model.Spec) model.Spec {
	s.GBT.Monotone, s.Forest.Monotone = nil, nil
	return s
}

// TestValidationReadsNoTestLabel checks that events on or after the test cutoff change
// nothing in the validation scores.
func TestValidationReadsNoTestLabel(t *testing.T) {
	t.Parallel()
	txs := syntheticTransactions()
	cut := time.Date(1997, 9, 1, 0, 0, 0, 0, time.UTC)
	var past []cdnow.Transaction
	for _, tx := range txs {
		if tx.Date.Before(cut) {
			past = append(past, tx)
		}
	}
	specs := []model.Spec{model.PropensitySpec(model.LogisticRegression, 1)}
	ctx := context.Background()
	all, err := evaluate.ValidatePropensity(ctx, cdnow.Events(txs), cut, 3, 1, specs)
	if err != nil {
		t.Fatal(err)
	}
	before, err := evaluate.ValidatePropensity(ctx, cdnow.Events(past), cut, 3, 1, specs)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(all[0].PerCutoff, before[0].PerCutoff) || len(all[0].PerCutoff) != 2 {
		t.Errorf("validation AUCs: got %v with the future, %v without; want equal pairs", all[0].PerCutoff, before[0].PerCutoff)
	}
	if len(past) == len(txs) {
		t.Fatal("synthetic history has nothing after the cutoff; the test proves nothing")
	}
}

// TestEnsembleWeightsAreTheValidationChoice compares the ensemble's equal mean with
// weights fitted to the members' out-of-fold scores on the validation split.
//
//	go test ./evaluate -run TestEnsembleWeightsAreTheValidationChoice -tune -v
func TestEnsembleWeightsAreTheValidationChoice(t *testing.T) {
	if !*tune {
		t.Skip("slow: run with -tune")
	}
	events := cdnow.Events(sample(t, "CDNOW_sample.txt"))
	cut := time.Date(1997, 10, 1, 0, 0, 0, 0, time.UTC)
	chosen := model.PropensitySpec(model.Ensemble, 42)
	other := chosen
	other.FitWeights = !chosen.FitWeights
	specs := []model.Spec{chosen, other, model.PropensitySpec(model.LogisticRegression, 42)}
	res, err := evaluate.ValidatePropensity(context.Background(), events, cut, 5, 42, specs)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		t.Logf("%s fit weights %v: validation AUC %.4f %v", r.Spec.Learner, r.Spec.FitWeights, r.AUC, r.PerCutoff)
	}
	if res[1].AUC > res[0].AUC {
		t.Errorf("validation prefers FitWeights=%v (%.4f) to PropensitySpec's %v (%.4f)", other.FitWeights, res[1].AUC, chosen.FitWeights, res[0].AUC)
	}
}
