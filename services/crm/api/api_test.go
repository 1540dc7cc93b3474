package api

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/stratahq/strata/services/crm/campaign"
	"github.com/stratahq/strata/services/crm/revenue"
	"github.com/stratahq/strata/services/crm/store"
)

func TestErrorsMapToCodes(t *testing.T) {
	t.Parallel()
	s := New(nil, nil, nil, nil)
	tests := []struct {
		err  error
		want codes.Code
	}{
		{&campaign.InvalidError{Violations: []campaign.Violation{{Field: "campaign.name", Description: "required"}}}, codes.InvalidArgument},
		{campaign.ErrInvalidPageToken, codes.InvalidArgument},
		{fmt.Errorf("x: %w", campaign.ErrNotFound), codes.NotFound},
		{fmt.Errorf("x: %w", store.ErrNotFound), codes.NotFound},
		{campaign.ErrExists, codes.AlreadyExists},
		{revenue.ErrConflict, codes.AlreadyExists},
		{campaign.ErrEmptyTarget, codes.FailedPrecondition},
		{campaign.ErrState, codes.FailedPrecondition},
		{context.Canceled, codes.Canceled},
		{context.DeadlineExceeded, codes.DeadlineExceeded},
		{errors.New("disk on fire"), codes.Internal},
	}
	for _, tt := range tests {
		if got := status.Code(s.toStatus(context.Background(), tt.err)); got != tt.want {
			t.Errorf("%v: got %v, want %v", tt.err, got, tt.want)
		}
	}
	if s.toStatus(context.Background(), nil) != nil {
		t.Errorf("nil error: got a status")
	}
	st, _ := status.FromError(s.toStatus(context.Background(), campaign.ErrEmptyTarget))
	found := false
	for _, d := range st.Details() {
		if pf, ok := d.(*errdetails.PreconditionFailure); ok && pf.GetViolations()[0].GetSubject() == "campaign.target" {
			found = true
		}
	}
	if !found {
		t.Errorf("empty target: details %v do not name campaign.target", st.Details())
	}
	st, _ = status.FromError(s.toStatus(context.Background(), tests[0].err))
	if br, ok := st.Details()[0].(*errdetails.BadRequest); !ok || br.GetFieldViolations()[0].GetField() != "campaign.name" {
		t.Errorf("invalid definition: details %v do not name campaign.name", st.Details())
	}
}
