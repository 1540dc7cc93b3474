package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	predictionv1 "github.com/stratahq/strata/proto/strata/prediction/v1"
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
	for _, m := range []predictionv1.Model{predictionv1.Model_MODEL_PURCHASE_PROPENSITY, predictionv1.Model_MODEL_CHURN_RISK, predictionv1.Model_MODEL_LIFETIME_VALUE} {
		if got := modelEnum(modelName(m)); got != m {
			t.Errorf("round trip of %v: got %v", m, got)
		}
	}
	for name, want := range map[string]predictionv1.Model{
		scoring.ModelPropensity: predictionv1.Model_MODEL_PURCHASE_PROPENSITY,
		scoring.ModelChurn:      predictionv1.Model_MODEL_CHURN_RISK,
		scoring.ModelCLV:        predictionv1.Model_MODEL_LIFETIME_VALUE,
		"unknown":               predictionv1.Model_MODEL_UNSPECIFIED,
	} {
		if got := modelEnum(name); got != want {
			t.Errorf("modelEnum(%q): got %v, want %v", name, got, want)
		}
	}
}
