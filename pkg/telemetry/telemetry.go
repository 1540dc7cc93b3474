// Package telemetry sets up OpenTelemetry for a process: traces (exported over OTLP when
// an endpoint is configured), metrics (served to Prometheus, and over OTLP when
// configured), and the W3C trace-context propagator that carries traces across gRPC, HTTP
// and Kafka headers.
//
// Setup installs the global providers once per process; the all-in-one command calls it
// once for every service it runs. Shutdown flushes pending spans and must be called on
// exit.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
)

// ErrMissingServiceName is returned by Validate when no service name is set.
var ErrMissingServiceName = errors.New("telemetry: service name is required")

// Config selects exporters.
type Config struct {
	// ServiceName is the service.name resource attribute.
	ServiceName string `env:"OTEL_SERVICE_NAME"`
	// OTLPEndpoint enables OTLP/gRPC trace export when set (e.g. http://collector:4317).
	OTLPEndpoint string `env:"OTEL_EXPORTER_OTLP_ENDPOINT"`
	// MetricsExporters lists where metrics go besides the Prometheus /metrics endpoint,
	// which is always served: "otlp" pushes them to OTLPEndpoint too. Push is opt-in so a
	// scraped deployment does not count every metric twice.
	MetricsExporters []string `env:"OTEL_METRICS_EXPORTER" envSeparator:","`
	// SampleRatio is the share of new traces sampled; child spans follow their parent.
	SampleRatio float64 `env:"OTEL_TRACES_SAMPLER_ARG" envDefault:"1"`
	// SpanProcessor, when set, receives spans in addition to the exporters (tests use an
	// in-memory exporter through it).
	SpanProcessor sdktrace.SpanProcessor `env:"-"`
}

// Validate reports configuration errors.
func (c Config) Validate() error {
	if c.ServiceName == "" {
		return ErrMissingServiceName
	}
	if c.SampleRatio < 0 || c.SampleRatio > 1 {
		return fmt.Errorf("telemetry: sample ratio %v outside [0,1]", c.SampleRatio)
	}
	return nil
}

// Telemetry holds the installed providers.
type Telemetry struct {
	tp       *sdktrace.TracerProvider
	mp       *sdkmetric.MeterProvider
	registry *prometheus.Registry
}

// Setup builds the providers and installs them as the process's globals.
func Setup(ctx context.Context, cfg Config) (*Telemetry, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceName(cfg.ServiceName)))
	if err != nil {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}

	topts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))),
	}
	if cfg.OTLPEndpoint != "" {
		exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(cfg.OTLPEndpoint))
		if err != nil {
			return nil, fmt.Errorf("telemetry: otlp trace exporter: %w", err)
		}
		topts = append(topts, sdktrace.WithBatcher(exp))
	}
	if cfg.SpanProcessor != nil {
		topts = append(topts, sdktrace.WithSpanProcessor(cfg.SpanProcessor))
	}
	tp := sdktrace.NewTracerProvider(topts...)

	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	promExp, err := otelprom.New(otelprom.WithRegisterer(registry))
	if err != nil {
		return nil, fmt.Errorf("telemetry: prometheus exporter: %w", err)
	}
	mopts := []sdkmetric.Option{sdkmetric.WithResource(res), sdkmetric.WithReader(promExp)}
	if cfg.OTLPEndpoint != "" && slices.Contains(cfg.MetricsExporters, "otlp") {
		mexp, err := otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithEndpointURL(cfg.OTLPEndpoint))
		if err != nil {
			return nil, fmt.Errorf("telemetry: otlp metric exporter: %w", err)
		}
		mopts = append(mopts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(mexp)))
	}
	mp := sdkmetric.NewMeterProvider(mopts...)

	otel.SetTracerProvider(tp)
	otel.SetMeterProvider(mp)
	otel.SetTextMapPropagator(Propagator())
	return &Telemetry{tp: tp, mp: mp, registry: registry}, nil
}

// Propagator is the suite's context propagator: W3C trace context and baggage.
func Propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// MetricsHandler serves the Prometheus exposition of this process's metrics.
func (t *Telemetry) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(t.registry, promhttp.HandlerOpts{})
}

// Shutdown flushes pending spans and metrics; it waits at most until ctx is done.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return errors.Join(t.tp.Shutdown(ctx), t.mp.Shutdown(ctx))
}
