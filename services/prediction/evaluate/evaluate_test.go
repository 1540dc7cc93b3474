package evaluate_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/stratahq/strata/services/prediction/cdnow"
	"github.com/stratahq/strata/services/prediction/evaluate"
	"github.com/stratahq/strata/services/prediction/model"
)

func sample(t testing.TB, name string) []cdnow.Transaction {
	t.Helper()
	path, ok := cdnow.FindDataset(name)
	if !ok {
		t.Skipf("%s not found: shared/datasets/cdnow is absent above the working directory (a clone outside the project workspace)", name)
	}
	txs, err := cdnow.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return txs
}

func TestCLVOnCDNOWSampleMatchesPublished(t *testing.T) {
	t.Parallel()
	rep, err := evaluate.CLV(context.Background(), cdnow.Events(sample(t, "CDNOW_sample.txt")), time.Date(1997, 9, 30, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"r", rep.BGNBD.R, 0.243}, {"alpha", rep.BGNBD.Alpha, 4.414}, {"a", rep.BGNBD.A, 0.793}, {"b", rep.BGNBD.B, 2.426},
		{"log_likelihood", rep.BGNBD.LogLikelihood, -9582.4},
		{"p", rep.GammaGamma.P, 6.25}, {"q", rep.GammaGamma.Q, 3.74}, {"gamma", rep.GammaGamma.Gamma, 15.44},
	} {
		if math.Abs(c.got-c.want) > 0.01*math.Abs(c.want) {
			t.Errorf("%s: got %.4f, want %.4f ±1%%", c.name, c.got, c.want)
		}
	}
}

// TestPropensityLogisticOnCDNOWSample runs the fastest learner on the README's task;
// the tree learners run in BenchmarkPropensityCDNOWSample.
func TestPropensityLogisticOnCDNOWSample(t *testing.T) {
	t.Parallel()
	rep, err := evaluate.Propensity(context.Background(), cdnow.Events(sample(t, "CDNOW_sample.txt")), evaluate.PropensityOptions{
		Cutoff: time.Date(1997, 10, 1, 0, 0, 0, 0, time.UTC), Folds: 5, Seed: 42, Learners: []model.Learner{model.LogisticRegression},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Customers != 2357 || rep.Positives != 684 {
		t.Errorf("task: got %d customers, %d positives; want 2357 and 684 (README)", rep.Customers, rep.Positives)
	}
	// Best scikit-learn reference in the dataset README: LogisticRegression 0.778.
	if auc := rep.Models[string(model.LogisticRegression)].AUC; !(auc > 0.778) {
		t.Errorf("logistic regression AUC: got %.4f, want > 0.778", auc)
	}
	// Validation AUC in the README: 0.7229.
	if v := rep.Validation[string(model.LogisticRegression)]; rep.Selected != string(model.LogisticRegression) || math.Abs(v-0.7229) > 0.0005 {
		t.Errorf("selected %q with validation AUC %.4f; want logistic_regression, 0.7229", rep.Selected, v)
	}
}

func TestPropensityCutoffs(t *testing.T) {
	t.Parallel()
	events := cdnow.Events(syntheticTransactions())
	ctx := context.Background()
	tests := []struct {
		name    string
		cutoff  time.Time
		wantErr error
	}{
		{"inside", time.Date(1997, 6, 1, 0, 0, 0, 0, time.UTC), nil},
		{"before the data", time.Date(1996, 6, 1, 0, 0, 0, 0, time.UTC), evaluate.ErrCutoffOutsideData},
		{"after the data", time.Date(1999, 6, 1, 0, 0, 0, 0, time.UTC), evaluate.ErrCutoffOutsideData},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := evaluate.Propensity(ctx, events, evaluate.PropensityOptions{
				Cutoff: tt.cutoff, Folds: 3, Seed: 1, Learners: []model.Learner{model.LogisticRegression},
			})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got %v, want %v", err, tt.wantErr)
			}
			if err == nil && (rep.Customers == 0 || math.IsNaN(rep.Models["logistic_regression"].AUC)) {
				t.Errorf("report: got %+v, want customers and an AUC", rep)
			}
		})
	}
	if _, err := evaluate.Propensity(ctx, nil, evaluate.PropensityOptions{}); !errors.Is(err, evaluate.ErrNoEvents) {
		t.Errorf("no events: got %v, want ErrNoEvents", err)
	}
}

// TestPropensitySelectsByValidation checks that the report's selected learner is the
// best on the validation split, measured without the events from the cutoff on.
func TestPropensitySelectsByValidation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	txs := syntheticTransactions()
	cut := time.Date(1997, 9, 1, 0, 0, 0, 0, time.UTC)
	learners := []model.Learner{model.LogisticRegression, model.GradientBoostedTrees}
	rep, err := evaluate.Propensity(ctx, cdnow.Events(txs), evaluate.PropensityOptions{Cutoff: cut, Folds: 3, Seed: 1, Learners: learners})
	if err != nil {
		t.Fatal(err)
	}
	var past []cdnow.Transaction
	for _, tx := range txs {
		if tx.Date.Before(cut) {
			past = append(past, tx)
		}
	}
	specs := []model.Spec{model.PropensitySpec(learners[0], 1), model.PropensitySpec(learners[1], 1)}
	val, err := evaluate.ValidatePropensity(ctx, cdnow.Events(past), cut, 3, 1, specs)
	if err != nil {
		t.Fatal(err)
	}
	want := learners[0]
	if val[1].AUC > val[0].AUC {
		want = learners[1]
	}
	if rep.Selected != string(want) || len(rep.Validation) != 2 ||
		rep.Validation[string(learners[0])] != val[0].AUC || rep.Validation[string(learners[1])] != val[1].AUC {
		t.Errorf("selected %q, validation %v; want %q of %v, %v", rep.Selected, rep.Validation, want, val[0].AUC, val[1].AUC)
	}
}

// syntheticTransactions is a small CDNOW-like history: 300 customers over 1997-1998,
// frequent buyers keep buying.
func syntheticTransactions() []cdnow.Transaction {
	var out []cdnow.Transaction
	start := time.Date(1997, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 300 {
		gap := 10 + (i%7)*25
		stop := 100 + (i*37)%500
		for d := i % 60; d < stop; d += gap {
			out = append(out, cdnow.Transaction{Customer: string(rune('a'+i%26)) + string(rune('0'+i/26)), Date: start.AddDate(0, 0, d), CDs: 1 + i%3, Dollars: float64(10 + i%40)})
		}
	}
	return out
}

// BenchmarkPropensityCDNOWSample runs `strata eval propensity` on the README's task
// with every learner and reports each AUC (auc_<learner>) and the selected learner's
// validation AUC; it fails below the
// scikit-learn random-forest references (0.766).
func BenchmarkPropensityCDNOWSample(b *testing.B) {
	events := cdnow.Events(sample(b, "CDNOW_sample.txt"))
	for b.Loop() {
		rep, err := evaluate.Propensity(context.Background(), events, evaluate.PropensityOptions{
			Cutoff: time.Date(1997, 10, 1, 0, 0, 0, 0, time.UTC), Folds: 5, Seed: 42,
		})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(rep.Validation[rep.Selected], "validation_auc_selected")
		for name, r := range rep.Models {
			b.ReportMetric(r.AUC, "auc_"+name)
			if r.AUC <= 0.766 {
				b.Errorf("%s AUC %.4f, want > 0.766", name, r.AUC)
			}
		}
	}
}
