// Package gateway is the composition root of the gateway: the one front door of the suite
// for client apps, operators and the CLI. It serves every API over gRPC and REST/JSON,
// authenticates API keys and authorises scopes, forwards calls to the services that own
// them, forwards the Segment HTTP API to ingest and serves the OpenAPI document. Its
// /healthz answers 200 only when every service behind it is ready.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/stratahq/strata/pkg/server"
	crmv1 "github.com/stratahq/strata/proto/strata/crm/v1"
	gatewayv1 "github.com/stratahq/strata/proto/strata/gateway/v1"
	ingestv1 "github.com/stratahq/strata/proto/strata/ingest/v1"
	predictionv1 "github.com/stratahq/strata/proto/strata/prediction/v1"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	recommendationv1 "github.com/stratahq/strata/proto/strata/recommendation/v1"
	"github.com/stratahq/strata/services/gateway/auth"
	"github.com/stratahq/strata/services/gateway/proxy"
	"github.com/stratahq/strata/services/gateway/rest"
)

// Sentinel configuration errors.
var (
	ErrMissingBackend  = errors.New("gateway: every backend address is required")
	ErrMissingAdminKey = errors.New("gateway: at least one admin key is required (STRATA_GATEWAY_ADMIN_KEYS)")
)

// Config configures the gateway.
type Config struct {
	Server server.Config `envPrefix:"STRATA_"`
	// IngestURL is ingest's HTTP base URL, where the Segment API is forwarded.
	IngestURL string `env:"STRATA_INGEST_URL"`
	// gRPC addresses (host:port) of the services behind the gateway.
	IngestAddr         string `env:"STRATA_INGEST_ADDR"`
	ProfileAddr        string `env:"STRATA_PROFILE_ADDR"`
	PredictionAddr     string `env:"STRATA_PREDICTION_ADDR"`
	RecommendationAddr string `env:"STRATA_RECOMMENDATION_ADDR"`
	CRMAddr            string `env:"STRATA_CRM_ADDR"`
	// AdminKeys are secrets accepted with the admin scope (comma-separated).
	AdminKeys []string `env:"STRATA_GATEWAY_ADMIN_KEYS" envSeparator:","`

	Logger  *slog.Logger `env:"-"`
	Metrics http.Handler `env:"-"`
}

// DefaultConfig returns the defaults: every service on its default loopback port.
func DefaultConfig() Config {
	return Config{
		Server:             server.Config{GRPCAddr: "127.0.0.1:9090", HTTPAddr: "127.0.0.1:8080", ShutdownTimeout: server.DefaultShutdownTimeout},
		IngestURL:          "http://127.0.0.1:8101",
		IngestAddr:         "127.0.0.1:9101",
		ProfileAddr:        "127.0.0.1:9102",
		PredictionAddr:     "127.0.0.1:9103",
		RecommendationAddr: "127.0.0.1:9104",
		CRMAddr:            "127.0.0.1:9105",
	}
}

// Validate reports configuration errors.
func (c Config) Validate() error {
	for _, a := range []string{c.IngestURL, c.IngestAddr, c.ProfileAddr, c.PredictionAddr, c.RecommendationAddr, c.CRMAddr} {
		if a == "" {
			return ErrMissingBackend
		}
	}
	if len(c.AdminKeys) == 0 || c.AdminKeys[0] == "" {
		return ErrMissingAdminKey
	}
	return c.Server.Validate()
}

// Run serves until ctx is done, then drains and returns.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("service", "gateway")

	backends := map[string]string{
		"ingest": cfg.IngestAddr, "profile": cfg.ProfileAddr, "prediction": cfg.PredictionAddr,
		"recommendation": cfg.RecommendationAddr, "crm": cfg.CRMAddr,
	}
	conns := map[string]*grpc.ClientConn{}
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for name, addr := range backends {
		c, err := dial(addr)
		if err != nil {
			return fmt.Errorf("gateway: %s: %w", name, err)
		}
		conns[name] = c
	}

	keys := auth.NewStore()
	for i, k := range cfg.AdminKeys {
		keys.Add(fmt.Sprintf("configured-admin-%d", i+1), k, "", gatewayv1.Scope_SCOPE_ADMIN)
	}

	router, err := proxy.NewRouter(map[string]grpc.ClientConnInterface{
		ingestv1.IngestService_ServiceDesc.ServiceName:                 conns["ingest"],
		profilev1.ProfileService_ServiceDesc.ServiceName:               conns["profile"],
		predictionv1.PredictionService_ServiceDesc.ServiceName:         conns["prediction"],
		recommendationv1.RecommendationService_ServiceDesc.ServiceName: conns["recommendation"],
		crmv1.CRMService_ServiceDesc.ServiceName:                       conns["crm"],
	}, auth.Check(keys))
	if err != nil {
		return err
	}
	// Calls to the gateway's own KeyService go through the auth interceptor; calls to
	// every other service are forwarded by the router, which authorises them itself.
	srv, err := server.New(cfg.Server, log, server.WithName("gateway"),
		server.WithMetrics(cfg.Metrics),
		server.WithUnaryInterceptors(auth.UnaryInterceptor(keys)),
		server.WithGRPCOptions(grpc.UnknownServiceHandler(router.Handle)),
		server.WithHealthCheck(backendsServing(conns)),
	)
	if err != nil {
		return err
	}
	gatewayv1.RegisterKeyServiceServer(srv.GRPC(), auth.NewKeyService(keys))

	if err := srv.Listen(); err != nil {
		return err
	}
	self, err := dial(srv.GRPCAddr().String())
	if err != nil {
		return fmt.Errorf("gateway: dial self: %w", err)
	}
	defer self.Close()
	api, err := rest.NewAPI(ctx, self)
	if err != nil {
		return err
	}
	segment, err := rest.NewSegmentProxy(cfg.IngestURL)
	if err != nil {
		return err
	}
	srv.Handle("/api/", api)
	srv.Handle("/v1/", segment)
	srv.Handle("GET /openapi.json", rest.OpenAPI())
	return srv.Run(ctx)
}

func dial(addr string) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler()),
	)
}

// backendsServing checks that every backend's gRPC health service reports SERVING.
func backendsServing(conns map[string]*grpc.ClientConn) func(context.Context) error {
	return func(ctx context.Context) error {
		for name, c := range conns {
			resp, err := healthpb.NewHealthClient(c).Check(ctx, &healthpb.HealthCheckRequest{})
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				return fmt.Errorf("%s: %s", name, resp.GetStatus())
			}
		}
		return nil
	}
}
