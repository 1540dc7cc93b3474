// Package grpcapi serves PredictionService over gRPC (and REST through the gateway's
// annotations) on top of a scoring engine and the model registry. It only translates:
// requests to engine calls, and the engine's sentinel errors to gRPC codes. It is safe
// for concurrent use.
package grpcapi

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	predictionv1 "github.com/stratahq/strata/proto/strata/prediction/v1"
	"github.com/stratahq/strata/services/prediction/registry"
	"github.com/stratahq/strata/services/prediction/scoring"
)

// Engine is what the API needs from the scoring engine.
type Engine interface {
	Predict(ctx context.Context, userID string) (*predictionv1.Prediction, error)
	Explain(ctx context.Context, userID string, m predictionv1.Model) (*predictionv1.Explanation, error)
	PredictCategories(ctx context.Context, userID string, limit int) (*predictionv1.CategoryPrediction, error)
	Train(ctx context.Context) (scoring.TrainReport, error)
	StartScoringRun(republish bool) *predictionv1.ScoringRun
	ScoringRun(id string) (*predictionv1.ScoringRun, error)
	CancelScoringRun(id string) (*predictionv1.ScoringRun, error)
	LoadModels() error
}

// Registry is what the API needs from the model registry.
type Registry interface {
	List() []registry.Version
	Get(model, version string) (registry.Entry, error)
	Rollback(model string) (registry.Version, error)
}

// Server implements predictionv1.PredictionServiceServer.
type Server struct {
	predictionv1.UnimplementedPredictionServiceServer
	engine Engine
	reg    Registry
}

// New returns a Server.
func New(engine Engine, reg Registry) *Server { return &Server{engine: engine, reg: reg} }

var _ predictionv1.PredictionServiceServer = (*Server)(nil)

// Predict implements PredictionService.Predict.
func (s *Server) Predict(ctx context.Context, r *predictionv1.PredictRequest) (*predictionv1.Prediction, error) {
	p, err := s.engine.Predict(ctx, r.GetUserId())
	return p, toStatus(err)
}

// Explain implements PredictionService.Explain.
func (s *Server) Explain(ctx context.Context, r *predictionv1.ExplainRequest) (*predictionv1.Explanation, error) {
	e, err := s.engine.Explain(ctx, r.GetUserId(), r.GetModel())
	return e, toStatus(err)
}

// PredictCategories implements PredictionService.PredictCategories.
func (s *Server) PredictCategories(ctx context.Context, r *predictionv1.PredictCategoriesRequest) (*predictionv1.CategoryPrediction, error) {
	p, err := s.engine.PredictCategories(ctx, r.GetUserId(), int(r.GetLimit()))
	return p, toStatus(err)
}

// StartScoringRun implements PredictionService.StartScoringRun.
func (s *Server) StartScoringRun(_ context.Context, r *predictionv1.StartScoringRunRequest) (*predictionv1.ScoringRun, error) {
	return s.engine.StartScoringRun(r.GetRepublish()), nil
}

// GetScoringRun implements PredictionService.GetScoringRun.
func (s *Server) GetScoringRun(_ context.Context, r *predictionv1.GetScoringRunRequest) (*predictionv1.ScoringRun, error) {
	run, err := s.engine.ScoringRun(r.GetRunId())
	return run, toStatus(err)
}

// CancelScoringRun implements PredictionService.CancelScoringRun.
func (s *Server) CancelScoringRun(_ context.Context, r *predictionv1.CancelScoringRunRequest) (*predictionv1.ScoringRun, error) {
	run, err := s.engine.CancelScoringRun(r.GetRunId())
	return run, toStatus(err)
}

// ListModels implements PredictionService.ListModels.
func (s *Server) ListModels(context.Context, *predictionv1.ListModelsRequest) (*predictionv1.ListModelsResponse, error) {
	out := &predictionv1.ListModelsResponse{}
	for _, v := range s.reg.List() {
		out.Models = append(out.Models, toProto(v))
	}
	return out, nil
}

// TrainModels implements PredictionService.TrainModels.
func (s *Server) TrainModels(ctx context.Context, _ *predictionv1.TrainModelsRequest) (*predictionv1.TrainModelsResponse, error) {
	rep, err := s.engine.Train(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &predictionv1.TrainModelsResponse{}
	for _, m := range rep.Models {
		out.Results = append(out.Results, &predictionv1.TrainingResult{
			Model: modelEnum(m.Model), Version: m.Version, Promoted: m.Promoted, Metrics: m.Metrics, Reason: m.Reason,
		})
	}
	return out, nil
}

// RollbackModel implements PredictionService.RollbackModel.
func (s *Server) RollbackModel(_ context.Context, r *predictionv1.RollbackModelRequest) (*predictionv1.ModelVersion, error) {
	v, err := s.reg.Rollback(modelName(r.GetModel()))
	if err != nil {
		return nil, toStatus(err)
	}
	if err := s.engine.LoadModels(); err != nil {
		return nil, toStatus(err)
	}
	return toProto(v), nil
}

// GetModelReport implements PredictionService.GetModelReport.
func (s *Server) GetModelReport(_ context.Context, r *predictionv1.GetModelReportRequest) (*predictionv1.ModelReport, error) {
	e, err := s.reg.Get(modelName(r.GetModel()), r.GetVersion())
	if err != nil {
		return nil, toStatus(err)
	}
	v := e.Version
	met := v.Metrics
	rep := &predictionv1.ModelReport{
		Model: modelEnum(v.Model), Version: v.Version, Promoted: v.Promoted, Learner: v.Learner, Metrics: met,
		Auc: met["auc"], LogLoss: met["log_loss"], Brier: met["brier"], PrecisionAtTopDecile: met["precision_at_top_decile"],
	}
	if val := v.Validation; val != nil {
		rep.Calibration = val.Calibration
		rep.ValidationCutoff = timestamppb.New(val.Cutoff)
		rep.Examples, rep.Positives = int64(val.Examples), int64(val.Positives)
		for _, b := range val.Curve {
			rep.CalibrationCurve = append(rep.CalibrationCurve, &predictionv1.CalibrationBin{
				Lower: b.Lower, Upper: b.Upper, MeanPredicted: b.MeanPredicted, FractionPositive: b.FractionPositive, Count: int64(b.Count),
			})
		}
		for _, p := range val.ROC {
			rep.RocCurve = append(rep.RocCurve, &predictionv1.RocPoint{
				FalsePositiveRate: p.FalsePositiveRate, TruePositiveRate: p.TruePositiveRate, Threshold: p.Threshold,
			})
		}
		for _, f := range val.Importance {
			rep.FeatureImportance = append(rep.FeatureImportance, &predictionv1.FeatureImportance{
				Feature: f.Feature, MeanAbsContribution: f.MeanAbsContribution,
			})
		}
	}
	return rep, nil
}

func toProto(v registry.Version) *predictionv1.ModelVersion {
	mv := &predictionv1.ModelVersion{
		Model: modelEnum(v.Model), Version: v.Version, Promoted: v.Promoted, Metrics: v.Metrics,
		Learner: v.Learner, Features: v.Features, DataHash: v.DataHash,
	}
	if !v.TrainedAt.IsZero() {
		mv.TrainedAt = timestamppb.New(v.TrainedAt)
	}
	if !v.WindowStart.IsZero() {
		mv.WindowStart = timestamppb.New(v.WindowStart)
	}
	if !v.WindowEnd.IsZero() {
		mv.WindowEnd = timestamppb.New(v.WindowEnd)
	}
	return mv
}

func modelEnum(name string) predictionv1.Model {
	return predictionv1.Model(predictionv1.Model_value["MODEL_"+strings.ToUpper(name)])
}

func modelName(m predictionv1.Model) string {
	return strings.ToLower(strings.TrimPrefix(m.String(), "MODEL_"))
}

func toStatus(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, scoring.ErrUnknownUser), errors.Is(err, scoring.ErrUnknownRun):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, scoring.ErrNoModel), errors.Is(err, registry.ErrNoPrevious):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, registry.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}
