package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	predictionv1 "github.com/stratahq/strata/proto/strata/prediction/v1"
	"github.com/stratahq/strata/services/prediction/metrics"
	"github.com/stratahq/strata/services/prediction/registry"
	"github.com/stratahq/strata/services/prediction/scoring"
)

func TestToStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want codes.Code
	}{
		{nil, codes.OK},
		{fmt.Errorf("x: %w", scoring.ErrUnknownUser), codes.NotFound},
		{fmt.Errorf("x: %w", scoring.ErrUnknownRun), codes.NotFound},
		{scoring.ErrNoModel, codes.FailedPrecondition},
		{registry.ErrNoPrevious, codes.FailedPrecondition},
		{registry.ErrNotFound, codes.NotFound},
		{context.Canceled, codes.Canceled},
		{context.DeadlineExceeded, codes.DeadlineExceeded},
		{errors.New("boom"), codes.Internal},
	}
	for _, tt := range tests {
		if got := status.Code(toStatus(tt.err)); got != tt.want {
			t.Errorf("toStatus(%v): got %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestModelNames(t *testing.T) {
	t.Parallel()
	for _, m := range []predictionv1.Model{predictionv1.Model_MODEL_PURCHASE_PROPENSITY, predictionv1.Model_MODEL_CHURN_RISK, predictionv1.Model_MODEL_LIFETIME_VALUE, predictionv1.Model_MODEL_CATEGORY_DEMAND} {
		if got := modelEnum(modelName(m)); got != m {
			t.Errorf("round trip of %v: got %v", m, got)
		}
	}
	for name, want := range map[string]predictionv1.Model{
		scoring.ModelPropensity: predictionv1.Model_MODEL_PURCHASE_PROPENSITY,
		scoring.ModelChurn:      predictionv1.Model_MODEL_CHURN_RISK,
		scoring.ModelCLV:        predictionv1.Model_MODEL_LIFETIME_VALUE,
		scoring.ModelDemand:     predictionv1.Model_MODEL_CATEGORY_DEMAND,
		"unknown":               predictionv1.Model_MODEL_UNSPECIFIED,
	} {
		if got := modelEnum(name); got != want {
			t.Errorf("modelEnum(%q): got %v, want %v", name, got, want)
		}
	}
}

func TestGetModelReport(t *testing.T) {
	t.Parallel()
	reg, err := registry.Open(registry.Config{})
	if err != nil {
		t.Fatal(err)
	}
	cut := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	v := registry.Version{
		Model: scoring.ModelPropensity, Version: "v1", Learner: "random_forest",
		Metrics: map[string]float64{"auc": 0.8, "log_loss": 0.45, "brier": 0.15, "precision_at_top_decile": 0.7},
		Validation: &registry.Validation{Cutoff: cut, Examples: 30, Positives: 10, Calibration: "platt", Curve: []metrics.Bin{
			{Lower: 0, Upper: 0.1, MeanPredicted: 0.05, FractionPositive: 0.1, Count: 20},
			{Lower: 0.9, Upper: 1, MeanPredicted: 0.95, FractionPositive: 0.9, Count: 10},
		},
			ROC:        []metrics.ROCPoint{{Threshold: 1}, {FalsePositiveRate: 0.1, TruePositiveRate: 0.7, Threshold: 0.5}, {FalsePositiveRate: 1, TruePositiveRate: 1}},
			Importance: []registry.Importance{{Feature: "recency_days", MeanAbsContribution: 0.12}, {Feature: "orders", MeanAbsContribution: 0.03}},
		},
	}
	if err := reg.Register(v, map[string]int{}); err != nil {
		t.Fatal(err)
	}
	if err := reg.Promote(v.Model, v.Version); err != nil {
		t.Fatal(err)
	}
	s := New(nil, reg)
	ctx := context.Background()
	tests := []struct {
		name    string
		req     *predictionv1.GetModelReportRequest
		want    codes.Code
		version string
	}{
		{"promoted", &predictionv1.GetModelReportRequest{Model: predictionv1.Model_MODEL_PURCHASE_PROPENSITY}, codes.OK, "v1"},
		{"by version", &predictionv1.GetModelReportRequest{Model: predictionv1.Model_MODEL_PURCHASE_PROPENSITY, Version: "v1"}, codes.OK, "v1"},
		{"unknown version", &predictionv1.GetModelReportRequest{Model: predictionv1.Model_MODEL_PURCHASE_PROPENSITY, Version: "v9"}, codes.NotFound, ""},
		{"nothing promoted", &predictionv1.GetModelReportRequest{Model: predictionv1.Model_MODEL_CHURN_RISK}, codes.NotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := s.GetModelReport(ctx, tt.req)
			if got := status.Code(err); got != tt.want {
				t.Fatalf("code: got %v, want %v (%v)", got, tt.want, err)
			}
			if err != nil {
				return
			}
			if rep.GetVersion() != tt.version || !rep.GetPromoted() || rep.GetAuc() != 0.8 || rep.GetBrier() != 0.15 ||
				rep.GetCalibration() != "platt" || rep.GetExamples() != 30 || rep.GetPositives() != 10 ||
				!rep.GetValidationCutoff().AsTime().Equal(cut) || len(rep.GetCalibrationCurve()) != 2 ||
				rep.GetCalibrationCurve()[1].GetFractionPositive() != 0.9 || rep.GetCalibrationCurve()[0].GetCount() != 20 {
				t.Errorf("report: got %v", rep)
			}
			if roc := rep.GetRocCurve(); len(roc) != 3 || roc[1].GetTruePositiveRate() != 0.7 || roc[1].GetThreshold() != 0.5 {
				t.Errorf("ROC: got %v, want the registry's three points", roc)
			}
			if fi := rep.GetFeatureImportance(); len(fi) != 2 || fi[0].GetFeature() != "recency_days" || fi[0].GetMeanAbsContribution() != 0.12 {
				t.Errorf("feature importance: got %v, want recency_days 0.12 first", fi)
			}
		})
	}
}
