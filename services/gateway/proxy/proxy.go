// Package proxy forwards the public and admin APIs from the gateway to the services that
// own them. Each forwarder is a typed gRPC server that calls the backend's client, so
// authorisation (package auth) and validation run at the gateway before a call leaves it,
// and the backend's status (code, message, details) comes back unchanged.
package proxy

import (
	"context"

	"google.golang.org/grpc"

	crmv1 "github.com/stratahq/strata/proto/strata/crm/v1"
	ingestv1 "github.com/stratahq/strata/proto/strata/ingest/v1"
	predictionv1 "github.com/stratahq/strata/proto/strata/prediction/v1"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	recommendationv1 "github.com/stratahq/strata/proto/strata/recommendation/v1"
)

// Profile forwards ProfileService.
type Profile struct {
	profilev1.UnimplementedProfileServiceServer
	C profilev1.ProfileServiceClient
}

// GetProfile forwards the call.
func (p Profile) GetProfile(ctx context.Context, r *profilev1.GetProfileRequest) (*profilev1.Profile, error) {
	return p.C.GetProfile(ctx, r)
}

// ListSegments forwards the call.
func (p Profile) ListSegments(ctx context.Context, r *profilev1.ListSegmentsRequest) (*profilev1.ListSegmentsResponse, error) {
	return p.C.ListSegments(ctx, r)
}

// Prediction forwards PredictionService.
type Prediction struct {
	predictionv1.UnimplementedPredictionServiceServer
	C predictionv1.PredictionServiceClient
}

// Predict forwards the call.
func (p Prediction) Predict(ctx context.Context, r *predictionv1.PredictRequest) (*predictionv1.Prediction, error) {
	return p.C.Predict(ctx, r)
}

// Explain forwards the call.
func (p Prediction) Explain(ctx context.Context, r *predictionv1.ExplainRequest) (*predictionv1.Explanation, error) {
	return p.C.Explain(ctx, r)
}

// ListModels forwards the call.
func (p Prediction) ListModels(ctx context.Context, r *predictionv1.ListModelsRequest) (*predictionv1.ListModelsResponse, error) {
	return p.C.ListModels(ctx, r)
}

// Recommendation forwards RecommendationService.
type Recommendation struct {
	recommendationv1.UnimplementedRecommendationServiceServer
	C recommendationv1.RecommendationServiceClient
}

// Recommend forwards the call.
func (p Recommendation) Recommend(ctx context.Context, r *recommendationv1.RecommendRequest) (*recommendationv1.RecommendResponse, error) {
	return p.C.Recommend(ctx, r)
}

// SimilarItems forwards the call.
func (p Recommendation) SimilarItems(ctx context.Context, r *recommendationv1.SimilarItemsRequest) (*recommendationv1.RecommendResponse, error) {
	return p.C.SimilarItems(ctx, r)
}

// Popular forwards the call.
func (p Recommendation) Popular(ctx context.Context, r *recommendationv1.PopularRequest) (*recommendationv1.RecommendResponse, error) {
	return p.C.Popular(ctx, r)
}

// CRM forwards CRMService.
type CRM struct {
	crmv1.UnimplementedCRMServiceServer
	C crmv1.CRMServiceClient
}

// GetCustomer forwards the call.
func (p CRM) GetCustomer(ctx context.Context, r *crmv1.GetCustomerRequest) (*crmv1.Customer, error) {
	return p.C.GetCustomer(ctx, r)
}

// CreateCampaign forwards the call.
func (p CRM) CreateCampaign(ctx context.Context, r *crmv1.CreateCampaignRequest) (*crmv1.Campaign, error) {
	return p.C.CreateCampaign(ctx, r)
}

// GetCampaignReport forwards the call.
func (p CRM) GetCampaignReport(ctx context.Context, r *crmv1.GetCampaignReportRequest) (*crmv1.CampaignReport, error) {
	return p.C.GetCampaignReport(ctx, r)
}

// Ingest forwards IngestService.
type Ingest struct {
	ingestv1.UnimplementedIngestServiceServer
	C ingestv1.IngestServiceClient
}

// Ingest forwards the call.
func (p Ingest) Ingest(ctx context.Context, r *ingestv1.IngestRequest) (*ingestv1.IngestResponse, error) {
	return p.C.Ingest(ctx, r)
}

// IngestBatch forwards the call.
func (p Ingest) IngestBatch(ctx context.Context, r *ingestv1.IngestBatchRequest) (*ingestv1.IngestBatchResponse, error) {
	return p.C.IngestBatch(ctx, r)
}

// UpsertItems forwards the call.
func (p Ingest) UpsertItems(ctx context.Context, r *ingestv1.UpsertItemsRequest) (*ingestv1.UpsertItemsResponse, error) {
	return p.C.UpsertItems(ctx, r)
}

// DeleteItems forwards the call.
func (p Ingest) DeleteItems(ctx context.Context, r *ingestv1.DeleteItemsRequest) (*ingestv1.DeleteItemsResponse, error) {
	return p.C.DeleteItems(ctx, r)
}

// Backends are the gRPC connections to the services behind the gateway.
type Backends struct {
	Ingest, Profile, Prediction, Recommendation, CRM grpc.ClientConnInterface
}

// Register registers every forwarder on s.
func Register(s grpc.ServiceRegistrar, b Backends) {
	ingestv1.RegisterIngestServiceServer(s, Ingest{C: ingestv1.NewIngestServiceClient(b.Ingest)})
	profilev1.RegisterProfileServiceServer(s, Profile{C: profilev1.NewProfileServiceClient(b.Profile)})
	predictionv1.RegisterPredictionServiceServer(s, Prediction{C: predictionv1.NewPredictionServiceClient(b.Prediction)})
	recommendationv1.RegisterRecommendationServiceServer(s, Recommendation{C: recommendationv1.NewRecommendationServiceClient(b.Recommendation)})
	crmv1.RegisterCRMServiceServer(s, CRM{C: crmv1.NewCRMServiceClient(b.CRM)})
}
