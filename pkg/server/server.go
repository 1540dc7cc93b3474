// Package server runs a service's network front: one gRPC server (health, reflection,
// OpenTelemetry, panic recovery, protovalidate on unary calls) and one HTTP server (liveness, readiness,
// Prometheus metrics and whatever routes the service adds), with one lifecycle.
// /livez answers 200 while the process runs (liveness); /readyz answers 200 while the
// service is ready to take work (readiness); /healthz answers 200 when it is ready and its
// health checks (WithHealthCheck) pass — for the gateway, when every service behind it is.
//
// Lifecycle: New builds; Listen binds both addresses (so a bind error surfaces before the
// service reports ready); Serve serves until its context is done, then reports not-ready,
// stops taking new calls, waits for in-flight ones up to ShutdownTimeout and returns.
// SetReady flips readiness for both /readyz and the gRPC health service. A Server is safe
// for concurrent use once Serve runs.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync/atomic"
	"time"

	"buf.build/go/protovalidate"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
)

// Sentinel configuration errors.
var (
	ErrMissingGRPCAddr = errors.New("server: gRPC address is required")
	ErrMissingHTTPAddr = errors.New("server: HTTP address is required")
)

// DefaultShutdownTimeout bounds a graceful stop; Kubernetes' default grace period is 30s.
const DefaultShutdownTimeout = 20 * time.Second

// Config is the network configuration of one service.
type Config struct {
	GRPCAddr        string        `env:"GRPC_ADDR"`
	HTTPAddr        string        `env:"HTTP_ADDR"`
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"20s"`

	// GRPCListener and HTTPListener, when set, are used instead of binding the addresses
	// (tests pass listeners on port 0).
	GRPCListener net.Listener `env:"-"`
	HTTPListener net.Listener `env:"-"`
}

// Validate reports configuration errors.
func (c Config) Validate() error {
	if c.GRPCAddr == "" && c.GRPCListener == nil {
		return ErrMissingGRPCAddr
	}
	if c.HTTPAddr == "" && c.HTTPListener == nil {
		return ErrMissingHTTPAddr
	}
	if c.ShutdownTimeout <= 0 {
		return fmt.Errorf("server: shutdown timeout %v must be positive", c.ShutdownTimeout)
	}
	return nil
}

// Server is a gRPC server and an HTTP server sharing one lifecycle.
type Server struct {
	cfg     Config
	log     *slog.Logger
	grpc    *grpc.Server
	health  *health.Server
	mux     *http.ServeMux
	http    *http.Server
	grpcLis net.Listener
	httpLis net.Listener
	ready   atomic.Bool
}

// Option customises a Server.
type Option func(*options)

type options struct {
	unary   []grpc.UnaryServerInterceptor
	stream  []grpc.StreamServerInterceptor
	metrics http.Handler
	checks  []func(context.Context) error
	name    string
	grpc    []grpc.ServerOption
}

// WithName tags the server's HTTP spans with strata.service=name, which tells services
// apart in traces when several run in one process.
func WithName(name string) Option {
	return func(o *options) { o.name = name }
}

// WithHealthCheck adds a check that must pass for /healthz to answer 200, such as the
// health of the services this one depends on. /readyz ignores it, so that an instance
// stays in its load balancer while a dependency is down and can answer with an error.
func WithHealthCheck(check func(context.Context) error) Option {
	return func(o *options) { o.checks = append(o.checks, check) }
}

// WithUnaryInterceptors adds interceptors that run after tracing, recovery and validation.
func WithUnaryInterceptors(i ...grpc.UnaryServerInterceptor) Option {
	return func(o *options) { o.unary = append(o.unary, i...) }
}

// WithStreamInterceptors adds stream interceptors that run after tracing and recovery.
func WithStreamInterceptors(i ...grpc.StreamServerInterceptor) Option {
	return func(o *options) { o.stream = append(o.stream, i...) }
}

// WithGRPCOptions adds gRPC server options (such as an unknown-service handler).
func WithGRPCOptions(opts ...grpc.ServerOption) Option {
	return func(o *options) { o.grpc = append(o.grpc, opts...) }
}

// WithMetrics serves h at /metrics.
func WithMetrics(h http.Handler) Option {
	return func(o *options) { o.metrics = h }
}

// New builds a server; register services on GRPC() and routes with Handle before Serve.
func New(cfg Config, log *slog.Logger, opts ...Option) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	validator, err := protovalidate.New()
	if err != nil {
		return nil, fmt.Errorf("server: protovalidate: %w", err)
	}
	recoverer := recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "panic in gRPC handler", "panic", p, "stack", string(debug.Stack()))
		return status.Error(codes.Internal, "internal error")
	})
	unary := append([]grpc.UnaryServerInterceptor{
		recovery.UnaryServerInterceptor(recoverer),
		validateUnary(validator),
	}, o.unary...)
	stream := append([]grpc.StreamServerInterceptor{
		recovery.StreamServerInterceptor(recoverer),
	}, o.stream...)

	s := &Server{
		cfg:    cfg,
		log:    log,
		health: health.NewServer(),
		mux:    http.NewServeMux(),
	}
	s.grpc = grpc.NewServer(append([]grpc.ServerOption{
		grpc.StatsHandler(otelgrpc.NewServerHandler()),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
	}, o.grpc...)...)
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)

	s.mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) {
		writeStatus(w, http.StatusOK, "alive")
	})
	s.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !s.ready.Load() {
			writeStatus(w, http.StatusServiceUnavailable, "not ready")
			return
		}
		writeStatus(w, http.StatusOK, "ready")
	})
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if !s.ready.Load() {
			writeStatus(w, http.StatusServiceUnavailable, "not ready")
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		for _, check := range o.checks {
			if err := check(ctx); err != nil {
				writeStatus(w, http.StatusServiceUnavailable, "unhealthy: "+err.Error())
				return
			}
		}
		writeStatus(w, http.StatusOK, "healthy")
	})
	if o.metrics != nil {
		s.mux.Handle("GET /metrics", o.metrics)
	}
	s.http = &http.Server{
		Handler: otelhttp.NewHandler(s.mux, "http", otelhttp.WithSpanNameFormatter(spanName),
			otelhttp.WithSpanOptions(trace.WithAttributes(attribute.String("strata.service", o.name)))),
		ReadHeaderTimeout: 10 * time.Second,
	}
	return s, nil
}

func writeStatus(w http.ResponseWriter, code int, status string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"status": status})
}

func spanName(_ string, r *http.Request) string {
	if r.Pattern != "" {
		return r.Pattern
	}
	return r.Method + " " + r.URL.Path
}

// GRPC returns the gRPC server to register services on.
func (s *Server) GRPC() *grpc.Server { return s.grpc }

// Handle adds an HTTP route; patterns follow net/http.ServeMux.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// SetReady reports the service ready (or not) on /readyz and the gRPC health service.
func (s *Server) SetReady(ready bool) {
	s.ready.Store(ready)
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if ready {
		st = healthpb.HealthCheckResponse_SERVING
	}
	s.health.SetServingStatus("", st)
}

// Listen binds the gRPC and HTTP addresses.
func (s *Server) Listen() error {
	if s.grpcLis != nil && s.httpLis != nil {
		return nil
	}
	var lc net.ListenConfig
	s.grpcLis = s.cfg.GRPCListener
	if s.grpcLis == nil {
		l, err := lc.Listen(context.Background(), "tcp", s.cfg.GRPCAddr)
		if err != nil {
			return fmt.Errorf("server: listen gRPC %s: %w", s.cfg.GRPCAddr, err)
		}
		s.grpcLis = l
	}
	s.httpLis = s.cfg.HTTPListener
	if s.httpLis == nil {
		l, err := lc.Listen(context.Background(), "tcp", s.cfg.HTTPAddr)
		if err != nil {
			_ = s.grpcLis.Close()
			return fmt.Errorf("server: listen HTTP %s: %w", s.cfg.HTTPAddr, err)
		}
		s.httpLis = l
	}
	return nil
}

// GRPCAddr is the bound gRPC address; valid after Listen.
func (s *Server) GRPCAddr() net.Addr { return s.grpcLis.Addr() }

// HTTPAddr is the bound HTTP address; valid after Listen.
func (s *Server) HTTPAddr() net.Addr { return s.httpLis.Addr() }

// Serve serves until ctx is done, then shuts down gracefully. It calls Listen if needed.
func (s *Server) Serve(ctx context.Context) error {
	if s.grpcLis == nil || s.httpLis == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	errc := make(chan error, 2)
	go func() {
		if err := s.grpc.Serve(s.grpcLis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			errc <- fmt.Errorf("server: gRPC: %w", err)
			return
		}
		errc <- nil
	}()
	go func() {
		if err := s.http.Serve(s.httpLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("server: HTTP: %w", err)
			return
		}
		errc <- nil
	}()
	s.log.InfoContext(ctx, "serving", "grpc", s.grpcLis.Addr().String(), "http", s.httpLis.Addr().String())

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	s.SetReady(false)
	s.health.Shutdown()
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	stopped := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(stopped)
	}()
	httpErr := s.http.Shutdown(shutdownCtx)
	select {
	case <-stopped:
	case <-shutdownCtx.Done():
		s.grpc.Stop()
		<-stopped
	}
	s.log.InfoContext(ctx, "stopped serving")
	if httpErr != nil && !errors.Is(httpErr, context.DeadlineExceeded) {
		return errors.Join(serveErr, fmt.Errorf("server: HTTP shutdown: %w", httpErr))
	}
	return serveErr
}

// Run listens, reports ready, and serves alongside workers (consumer loops, relays) until
// ctx is done or any of them fails; then it drains everything and returns the first error.
// Workers must return when their context is done.
func (s *Server) Run(ctx context.Context, workers ...func(context.Context) error) error {
	if err := s.Listen(); err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.Serve(gctx) })
	for _, w := range workers {
		g.Go(func() error { return w(gctx) })
	}
	s.SetReady(true)
	return g.Wait()
}
