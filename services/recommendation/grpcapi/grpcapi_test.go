package grpcapi

import (
	"context"
	"errors"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	recommendationv1 "github.com/stratahq/strata/proto/strata/recommendation/v1"
	"github.com/stratahq/strata/services/recommendation/engine"
)

type fake struct {
	err     error
	run     *recommendationv1.TrainingRun
	trained bool
	started bool
	limit   int
}

func (f *fake) Recommend(context.Context, *recommendationv1.RecommendRequest) (*recommendationv1.RecommendResponse, error) {
	return &recommendationv1.RecommendResponse{Variant: "v"}, f.err
}

func (f *fake) SimilarItems(context.Context, string, int) (*recommendationv1.RecommendResponse, error) {
	return &recommendationv1.RecommendResponse{}, f.err
}

func (f *fake) Popular(context.Context, string, int) *recommendationv1.RecommendResponse {
	return &recommendationv1.RecommendResponse{Source: "popular"}
}

func (f *fake) Train(context.Context) (*recommendationv1.TrainingRun, error) {
	f.trained = true
	return f.run, f.err
}

func (f *fake) StartTraining() *recommendationv1.TrainingRun {
	f.started = true
	return f.run
}

func (f *fake) ListRuns(_ context.Context, limit int) ([]*recommendationv1.TrainingRun, error) {
	f.limit = limit
	return []*recommendationv1.TrainingRun{f.run}, f.err
}

func (f *fake) Feedback(context.Context, *recommendationv1.FeedbackRequest) (bool, error) {
	return true, f.err
}

func field(err error) string {
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
			return br.GetFieldViolations()[0].GetField()
		}
	}
	return ""
}

func TestErrorsMapToCodes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	tests := []struct {
		name      string
		call      func(*Server) error
		wantCode  codes.Code
		wantField string
	}{
		{"item_detail without item", func(s *Server) error {
			s.eng = &fake{err: engine.ErrMissingItem}
			_, err := s.Recommend(ctx, &recommendationv1.RecommendRequest{UserId: "u"})
			return err
		}, codes.InvalidArgument, "item_id"},
		{"price range inverted", func(s *Server) error {
			_, err := s.Recommend(ctx, &recommendationv1.RecommendRequest{UserId: "u", Filters: &recommendationv1.Filters{MinPriceMinor: 10, MaxPriceMinor: 5}})
			return err
		}, codes.InvalidArgument, "filters.min_price_minor"},
		{"unknown item", func(s *Server) error {
			s.eng = &fake{err: engine.ErrUnknownItem}
			_, err := s.SimilarItems(ctx, &recommendationv1.SimilarItemsRequest{ItemId: "x"})
			return err
		}, codes.NotFound, ""},
		{"unknown feedback action", func(s *Server) error {
			s.eng = &fake{err: engine.ErrUnknownAction}
			_, err := s.Feedback(ctx, &recommendationv1.FeedbackRequest{UserId: "u", ItemId: "c1"})
			return err
		}, codes.InvalidArgument, "action"},
		{"feedback store down", func(s *Server) error {
			s.eng = &fake{err: errors.New("redis: connection refused")}
			_, err := s.Feedback(ctx, &recommendationv1.FeedbackRequest{UserId: "u", ItemId: "c1", Action: recommendationv1.FeedbackAction_FEEDBACK_ACTION_LIKE})
			return err
		}, codes.Unavailable, ""},
		{"ok", func(s *Server) error {
			_, err := s.Recommend(ctx, &recommendationv1.RecommendRequest{UserId: "u"})
			return err
		}, codes.OK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := New(&fake{})
			err := tt.call(s)
			if got := status.Code(err); got != tt.wantCode {
				t.Fatalf("code: got %v, want %v (%v)", got, tt.wantCode, err)
			}
			if got := field(err); got != tt.wantField {
				t.Errorf("field: got %q, want %q", got, tt.wantField)
			}
		})
	}
}

func TestTrainWaitsOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	f := &fake{run: &recommendationv1.TrainingRun{Id: "r1"}}
	s := New(f)
	if run, err := s.Train(t.Context(), &recommendationv1.TrainRequest{}); err != nil || run.GetId() != "r1" || !f.started || f.trained {
		t.Errorf("Train without wait: got %v %v, started %v trained %v; want the run, started, not waited", run, err, f.started, f.trained)
	}
	f.err = errors.New("boom")
	f.run = &recommendationv1.TrainingRun{Id: "r2", Status: recommendationv1.TrainingStatus_TRAINING_STATUS_FAILED}
	if run, err := s.Train(t.Context(), &recommendationv1.TrainRequest{Wait: true}); err != nil || run.GetStatus() != recommendationv1.TrainingStatus_TRAINING_STATUS_FAILED {
		t.Errorf("Train with wait, failing: got %v %v, want the failed run's report", run, err)
	}
	if resp, err := s.Popular(t.Context(), &recommendationv1.PopularRequest{}); err != nil || resp.GetSource() != "popular" {
		t.Errorf("Popular: got %v %v", resp, err)
	}
}

func TestListTrainingRuns(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		limit     int32
		err       error
		wantLimit int
		wantCode  codes.Code
	}{
		{name: "default limit", limit: 0, wantLimit: defaultRuns, wantCode: codes.OK},
		{name: "given limit", limit: 5, wantLimit: 5, wantCode: codes.OK},
		{name: "negative limit", limit: -1, wantCode: codes.InvalidArgument},
		{name: "store down", limit: 1, err: errors.New("redis down"), wantLimit: 1, wantCode: codes.Unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fake{run: &recommendationv1.TrainingRun{Id: "r1"}, err: tt.err}
			resp, err := New(f).ListTrainingRuns(t.Context(), &recommendationv1.ListTrainingRunsRequest{Limit: tt.limit})
			if got := status.Code(err); got != tt.wantCode {
				t.Fatalf("code: got %v, want %v", got, tt.wantCode)
			}
			if f.limit != tt.wantLimit {
				t.Errorf("limit: got %d, want %d", f.limit, tt.wantLimit)
			}
			if err == nil && (len(resp.GetRuns()) != 1 || resp.GetRuns()[0].GetId() != "r1") {
				t.Errorf("runs: got %v, want [r1]", resp.GetRuns())
			}
		})
	}
}
