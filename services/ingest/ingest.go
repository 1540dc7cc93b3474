// Package ingest is the composition root of the ingest service: it accepts behaviour
// events over the Segment HTTP API, gRPC and the upstream Kafka topic
// strata.events.raw.v1, and catalog changes over gRPC and the same topic; it publishes
// them, validated, normalised, deduplicated and keyed by canonical user id, to
// strata.events.v1 and strata.catalog.v1. Config and Run are all a binary or the
// all-in-one command needs.
//
// State: the dedup window and the identity map live in Redis (package ledger), shared by
// every instance. Right to erasure: the admin RequestErasure call publishes the request
// to strata.privacy.v1, and a consumer of that topic forgets the user's identity links
// and dedup entries (package privacy). Traffic: each instance counts the events it
// accepted per minute over the last hour in memory (package throughput), read with the
// admin GetIngestStats call; the counts are per instance, not totals.
// Memory: requests in flight are bounded (package inflight); a request
// that does not fit is refused with 429 / ResourceExhausted.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"google.golang.org/grpc"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/cache"
	"github.com/stratahq/strata/pkg/server"
	"github.com/stratahq/strata/pkg/topics"
	ingestv1 "github.com/stratahq/strata/proto/strata/ingest/v1"
	"github.com/stratahq/strata/services/ingest/catalog"
	"github.com/stratahq/strata/services/ingest/grpcapi"
	"github.com/stratahq/strata/services/ingest/httpapi"
	"github.com/stratahq/strata/services/ingest/inflight"
	"github.com/stratahq/strata/services/ingest/ledger"
	"github.com/stratahq/strata/services/ingest/pipeline"
	"github.com/stratahq/strata/services/ingest/privacy"
	"github.com/stratahq/strata/services/ingest/raw"
	"github.com/stratahq/strata/services/ingest/throughput"
)

// Configuration errors.
var (
	// ErrNoWriteKeys is returned by Validate when no Segment write key is configured.
	ErrNoWriteKeys = errors.New("ingest: at least one write key is required (STRATA_INGEST_WRITE_KEYS=key:source)")
	// ErrInvalidLimits is returned by Validate for negative limits or durations.
	ErrInvalidLimits = errors.New("ingest: limits and durations must not be negative")
)

// Config configures the ingest service.
type Config struct {
	Server server.Config `envPrefix:"STRATA_"`
	Kafka  bus.Config    `envPrefix:"STRATA_"`
	// Redis holds the dedup window and the identity map. Required.
	Redis cache.Config `envPrefix:"STRATA_"`
	// WriteKeys maps Segment write keys to source ids: "key1:web,key2:ios".
	WriteKeys map[string]string `env:"STRATA_INGEST_WRITE_KEYS" envKeyValSeparator:":"`

	// DedupWindow is how long a published (source, messageId) is remembered; default 24h.
	DedupWindow time.Duration `env:"STRATA_INGEST_DEDUP_WINDOW"`
	// IdentityTTL is how long an anonymous id's link is remembered; default 365 days.
	IdentityTTL time.Duration `env:"STRATA_INGEST_IDENTITY_TTL"`
	// MaxInFlightRequests and MaxInFlightBytes bound the requests served at once and
	// the body bytes they may hold; defaults 512 and 32 MiB.
	MaxInFlightRequests int   `env:"STRATA_INGEST_MAX_INFLIGHT_REQUESTS"`
	MaxInFlightBytes    int64 `env:"STRATA_INGEST_MAX_INFLIGHT_BYTES"`
	// PublishTimeout bounds one publish to Kafka; default 10s. A client then hears 503.
	PublishTimeout time.Duration `env:"STRATA_INGEST_PUBLISH_TIMEOUT"`
	// DisableRawConsumer turns off the strata.events.raw.v1 consumer (the HTTP and gRPC
	// fronts still run).
	DisableRawConsumer bool `env:"STRATA_INGEST_DISABLE_RAW_CONSUMER"`
	// Consumer tunes the raw consumer; Run sets its Config, and its GroupID and Topics
	// when empty (strata-ingest-raw on strata.events.raw.v1; benchmarks use their own).
	Consumer bus.ConsumerConfig `env:"-"`
	// EventsTopic, when set, replaces strata.events.v1 as the destination of events:
	// benchmarks write to a topic of their own so as not to flood the suite's consumers.
	EventsTopic string `env:"-"`

	Logger  *slog.Logger `env:"-"`
	Metrics http.Handler `env:"-"`
}

// DefaultConfig returns the defaults; environment variables override them.
func DefaultConfig() Config {
	return Config{
		Server: server.Config{GRPCAddr: "127.0.0.1:9101", HTTPAddr: "127.0.0.1:8101", ShutdownTimeout: server.DefaultShutdownTimeout},
	}
}

// Validate reports configuration errors.
func (c Config) Validate() error {
	if len(c.WriteKeys) == 0 {
		return ErrNoWriteKeys
	}
	if c.DedupWindow < 0 || c.IdentityTTL < 0 || c.MaxInFlightRequests < 0 || c.MaxInFlightBytes < 0 || c.PublishTimeout < 0 {
		return ErrInvalidLimits
	}
	return errors.Join(c.Server.Validate(), c.Kafka.Validate(), c.Redis.Validate())
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
	log = log.With("service", "ingest")
	cfg.Kafka.Logger = log

	if err := bus.EnsureTopics(ctx, cfg.Kafka, topics.All()...); err != nil {
		return fmt.Errorf("ingest: ensure topics: %w", err)
	}
	rdb, err := cache.Open(ctx, cfg.Redis)
	if err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	defer rdb.Close()
	producer, err := bus.NewProducer(bus.ProducerConfig{Config: cfg.Kafka})
	if err != nil {
		return fmt.Errorf("ingest: producer: %w", err)
	}
	defer producer.Close()

	led := ledger.New(rdb, ledger.Config{DedupWindow: cfg.DedupWindow, IdentityTTL: cfg.IdentityTTL})
	counts := throughput.New()
	pipe, err := pipeline.New(producer, pipeline.WithLedger(led), pipeline.WithPublishTimeout(cfg.PublishTimeout),
		pipeline.WithLogger(log), pipeline.WithTopic(cfg.EventsTopic), pipeline.WithCounter(counts))
	if err != nil {
		return err
	}
	items, err := catalog.New(producer)
	if err != nil {
		return err
	}
	limiter := inflight.New(cfg.MaxInFlightRequests, cfg.MaxInFlightBytes)
	srv, err := server.New(cfg.Server, log,
		server.WithName("ingest"),
		server.WithMetrics(cfg.Metrics),
		server.WithUnaryInterceptors(grpcapi.Admission(limiter)),
		server.WithGRPCOptions(grpc.StatsHandler(grpcapi.RequestSizes())),
		server.WithHealthCheck(led.Ping),
	)
	if err != nil {
		return err
	}
	ingestv1.RegisterIngestServiceServer(srv.GRPC(), grpcapi.New(pipe, items,
		grpcapi.WithErasures(privacy.NewRequester(producer, topics.Privacy)), grpcapi.WithStats(counts, instanceName())))
	srv.Handle("/v1/", httpapi.New(pipe, cfg.WriteKeys, log, httpapi.WithLimiter(limiter), httpapi.WithRetryAfter(grpcapi.RetryAfter)))

	var workers []func(context.Context) error
	if !cfg.DisableRawConsumer {
		cc := cfg.Consumer
		cc.Config = cfg.Kafka
		if cc.GroupID == "" {
			cc.GroupID = topics.GroupIngestRaw
		}
		if len(cc.Topics) == 0 {
			cc.Topics = []string{topics.EventsRaw}
		}
		// Batches: one pipeline call and one commit for up to cc.BatchSize records.
		consumer, err := bus.NewBatchConsumer(cc, raw.New(pipe, items, log).HandleBatch, bus.Reliable(producer, bus.RetryPolicy{}, log)...)
		if err != nil {
			return fmt.Errorf("ingest: raw consumer: %w", err)
		}
		workers = append(workers, consumer.Run)
	}
	pcc := cfg.Consumer
	pcc.Config, pcc.GroupID, pcc.Topics = cfg.Kafka, topics.GroupIngestPrivacy, []string{topics.Privacy}
	erasures, err := bus.NewConsumer(pcc, privacy.NewHandler(led, producer, log).Handle, bus.Reliable(producer, bus.RetryPolicy{}, log)...)
	if err != nil {
		return fmt.Errorf("ingest: privacy consumer: %w", err)
	}
	workers = append(workers, erasures.Run)
	return srv.Run(ctx, workers...)
}

// instanceName names this instance in GetIngestStats: the host name (the pod name on
// Kubernetes), else "ingest".
func instanceName() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "ingest"
}
