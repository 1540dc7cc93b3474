// Package grpcapi implements strata.recommendation.v1.RecommendationService over the
// engine, mapping its errors to gRPC codes at the edge.
package grpcapi

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/stratahq/strata/pkg/rpcerr"
	recommendationv1 "github.com/stratahq/strata/proto/strata/recommendation/v1"
	"github.com/stratahq/strata/services/recommendation/engine"
)

type recommender interface {
	Recommend(ctx context.Context, req *recommendationv1.RecommendRequest) (*recommendationv1.RecommendResponse, error)
	SimilarItems(ctx context.Context, itemID string, n int) (*recommendationv1.RecommendResponse, error)
	Popular(ctx context.Context, segmentID string, n int) *recommendationv1.RecommendResponse
	Train(ctx context.Context) (*recommendationv1.TrainingRun, error)
	StartTraining() *recommendationv1.TrainingRun
	ListRuns(ctx context.Context, limit int) ([]*recommendationv1.TrainingRun, error)
	Feedback(ctx context.Context, req *recommendationv1.FeedbackRequest) (bool, error)
}

// Server implements RecommendationService.
type Server struct {
	recommendationv1.UnimplementedRecommendationServiceServer
	eng recommender
}

// New returns the gRPC service.
func New(eng recommender) *Server { return &Server{eng: eng} }

// Recommend implements RecommendationService.
func (s *Server) Recommend(ctx context.Context, req *recommendationv1.RecommendRequest) (*recommendationv1.RecommendResponse, error) {
	if f := req.GetFilters(); f.GetMaxPriceMinor() > 0 && f.GetMinPriceMinor() > f.GetMaxPriceMinor() {
		return nil, rpcerr.InvalidArgument(rpcerr.FieldViolation{Field: "filters.min_price_minor", Description: "must not exceed filters.max_price_minor"})
	}
	resp, err := s.eng.Recommend(ctx, req)
	if errors.Is(err, engine.ErrMissingItem) {
		return nil, rpcerr.InvalidArgument(rpcerr.FieldViolation{Field: "item_id", Description: "is required for the item_detail scene"})
	}
	if err != nil {
		return nil, status.Errorf(codes.Internal, "recommend: %v", err)
	}
	return resp, nil
}

// SimilarItems implements RecommendationService.
func (s *Server) SimilarItems(ctx context.Context, req *recommendationv1.SimilarItemsRequest) (*recommendationv1.RecommendResponse, error) {
	resp, err := s.eng.SimilarItems(ctx, req.GetItemId(), int(req.GetN()))
	switch {
	case errors.Is(err, engine.ErrUnknownItem):
		return nil, status.Errorf(codes.NotFound, "no item %q", req.GetItemId())
	case err != nil:
		return nil, status.Errorf(codes.Internal, "similar items: %v", err)
	}
	return resp, nil
}

// Popular implements RecommendationService.
func (s *Server) Popular(ctx context.Context, req *recommendationv1.PopularRequest) (*recommendationv1.RecommendResponse, error) {
	return s.eng.Popular(ctx, req.GetSegmentId(), int(req.GetN())), nil
}

// Feedback implements RecommendationService.
func (s *Server) Feedback(ctx context.Context, req *recommendationv1.FeedbackRequest) (*recommendationv1.FeedbackResponse, error) {
	recorded, err := s.eng.Feedback(ctx, req)
	switch {
	case errors.Is(err, engine.ErrUnknownAction):
		return nil, rpcerr.InvalidArgument(rpcerr.FieldViolation{Field: "action", Description: "must be click, dismiss or like"})
	case ctx.Err() != nil:
		return nil, status.FromContextError(ctx.Err()).Err()
	case err != nil:
		return nil, status.Errorf(codes.Unavailable, "feedback: %v", err)
	}
	return &recommendationv1.FeedbackResponse{Recorded: recorded}, nil
}

// Train implements RecommendationService.
func (s *Server) Train(ctx context.Context, req *recommendationv1.TrainRequest) (*recommendationv1.TrainingRun, error) {
	if !req.GetWait() {
		return s.eng.StartTraining(), nil
	}
	run, err := s.eng.Train(ctx)
	switch {
	case ctx.Err() != nil:
		return nil, status.FromContextError(ctx.Err()).Err()
	case err != nil && run != nil:
		return run, nil // the run's report says why it failed
	case err != nil:
		return nil, status.Errorf(codes.Internal, "train: %v", err)
	}
	return run, nil
}

// defaultRuns is how many runs ListTrainingRuns returns when the request sets no limit.
const defaultRuns = 20

// ListTrainingRuns implements RecommendationService.
func (s *Server) ListTrainingRuns(ctx context.Context, req *recommendationv1.ListTrainingRunsRequest) (*recommendationv1.ListTrainingRunsResponse, error) {
	limit := int(req.GetLimit())
	if limit < 0 {
		return nil, rpcerr.InvalidArgument(rpcerr.FieldViolation{Field: "limit", Description: "must not be negative"})
	}
	if limit == 0 {
		limit = defaultRuns
	}
	runs, err := s.eng.ListRuns(ctx, limit)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "list training runs: %v", err)
	}
	return &recommendationv1.ListTrainingRunsResponse{Runs: runs}, nil
}
