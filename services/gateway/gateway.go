// Package gateway is the composition root of the gateway: the one front door of the suite
// for client apps, operators and the CLI. It serves every API over gRPC and REST/JSON,
// authenticates API keys (persisted in PostgreSQL or SQLite, package keystore), meters
// them with per-key rate limits, authorises scopes and audits admin actions (package
// auth), forwards calls to the services that own them, forwards the Segment HTTP API to
// ingest, answers CORS for web clients and serves the OpenAPI document. Its /healthz
// answers 200 only when every service behind it is ready and the key store answers.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

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
	"github.com/stratahq/strata/services/gateway/console"
	"github.com/stratahq/strata/services/gateway/keystore"
	"github.com/stratahq/strata/services/gateway/proxy"
	"github.com/stratahq/strata/services/gateway/ratelimit"
	"github.com/stratahq/strata/services/gateway/rest"
)

// Sentinel configuration errors.
var (
	ErrMissingBackend  = errors.New("gateway: every backend address is required")
	ErrMissingAdminKey = errors.New("gateway: at least one admin key is required (STRATA_GATEWAY_ADMIN_KEYS)")
	ErrNegativeLimit   = errors.New("gateway: rate limit, burst and key cache TTL must not be negative")
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
	// AdminKeys are secrets accepted with the admin scope (comma-separated). They are
	// held in memory only, not rate-limited and not revocable through the API: they
	// bootstrap the keys created through it.
	AdminKeys []string `env:"STRATA_GATEWAY_ADMIN_KEYS" envSeparator:","`
	// Keys is where created API keys and the audit log are stored.
	Keys keystore.Config
	// KeyCacheTTL bounds how long a revocation made on another instance takes to apply.
	KeyCacheTTL time.Duration `env:"STRATA_GATEWAY_KEY_CACHE_TTL"`
	// RateLimit and RateBurst are the token bucket of keys created without their own
	// (requests per second, per gateway instance); RateLimit 0 means unlimited.
	RateLimit float64 `env:"STRATA_GATEWAY_RATE_LIMIT"`
	RateBurst int     `env:"STRATA_GATEWAY_RATE_BURST"`
	// CORSOrigins are the web origins allowed to call the API from a browser
	// (comma-separated, e.g. https://app.example.com; "*" allows any).
	CORSOrigins []string `env:"STRATA_GATEWAY_CORS_ORIGINS" envSeparator:","`

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
		KeyCacheTTL:        auth.DefaultCacheTTL,
		RateLimit:          DefaultRateLimit,
		RateBurst:          DefaultRateBurst,
	}
}

// Default token bucket of created keys: enough for an app's backend, small enough that
// a leaked client key cannot flood the suite.
const (
	DefaultRateLimit = 50
	DefaultRateBurst = 100
)

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
	if c.RateLimit < 0 || c.RateBurst < 0 || c.KeyCacheTTL < 0 {
		return ErrNegativeLimit
	}
	if err := c.Keys.Validate(); err != nil {
		return err
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

	store, err := keystore.Open(ctx, cfg.Keys)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	defer store.Close()
	keys := auth.NewKeys(store, cfg.KeyCacheTTL)
	for i, k := range cfg.AdminKeys {
		keys.AddConfigured(fmt.Sprintf("configured-admin-%d", i+1), k, gatewayv1.Scope_SCOPE_ADMIN)
	}
	limiter := ratelimit.New(ratelimit.Limit{PerSecond: cfg.RateLimit, Burst: cfg.RateBurst})
	guard := auth.NewGuard(keys, limiter, store, log)

	router, err := proxy.NewRouter(map[string]grpc.ClientConnInterface{
		ingestv1.IngestService_ServiceDesc.ServiceName:                 conns["ingest"],
		profilev1.ProfileService_ServiceDesc.ServiceName:               conns["profile"],
		predictionv1.PredictionService_ServiceDesc.ServiceName:         conns["prediction"],
		recommendationv1.RecommendationService_ServiceDesc.ServiceName: conns["recommendation"],
		crmv1.CRMService_ServiceDesc.ServiceName:                       conns["crm"],
	}, guard)
	if err != nil {
		return err
	}
	// Calls to the gateway's own services go through the guard's interceptor; calls to
	// every other service are forwarded by the router, which admits them itself. The
	// interceptor is installed with grpc.UnaryInterceptor, which gRPC runs outside the
	// server's chain, so that callers are admitted before their requests are validated,
	// as the router does.
	srv, err := server.New(cfg.Server, log, server.WithName("gateway"),
		server.WithMetrics(cfg.Metrics),
		server.WithGRPCOptions(grpc.UnaryInterceptor(guard.UnaryInterceptor()), grpc.UnknownServiceHandler(router.Handle)),
		server.WithHealthCheck(backendsServing(conns)),
		server.WithHealthCheck(store.Ping),
	)
	if err != nil {
		return err
	}
	gatewayv1.RegisterKeyServiceServer(srv.GRPC(), auth.NewKeyService(keys, limiter, log))
	gatewayv1.RegisterAuditServiceServer(srv.GRPC(), auth.NewAuditService(store, log))

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
	srv.Handle("/api/", rest.CORS(cfg.CORSOrigins, api))
	srv.Handle("/v1/", rest.CORS(cfg.CORSOrigins, segment))
	srv.Handle("GET /openapi.json", rest.CORS(cfg.CORSOrigins, rest.OpenAPI()))
	srv.Handle("GET "+console.Path, console.Handler())
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
