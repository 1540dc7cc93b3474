// Package recommendation is the composition root of the recommendation service: it
// consumes strata.events.v1, strata.catalog.v1, strata.segments.v1 and
// strata.segment-definitions.v1 (consumer group strata-recommendation) into its Redis
// store, carries out erasure requests from strata.privacy.v1 (same group), trains its models in-process on a timer and on demand, keeps
// every active user's candidate list precomputed in Redis, and serves
// RecommendationService (Recommend, SimilarItems, Popular, Train). See package engine
// for the serving rules and the memory limits of training, and package evaluation for the
// offline evaluation behind `strata eval recommend`.
//
// Every instance trains on the histories of all users (they live in Redis, written by
// whichever instance consumed the user's partition) and reloads the catalog from Redis at
// each training, so instances of one group serve the same lists.
package recommendation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/cache"
	"github.com/stratahq/strata/pkg/server"
	"github.com/stratahq/strata/pkg/topics"
	recommendationv1 "github.com/stratahq/strata/proto/strata/recommendation/v1"
	"github.com/stratahq/strata/services/recommendation/engine"
	"github.com/stratahq/strata/services/recommendation/grpcapi"
	"github.com/stratahq/strata/services/recommendation/store"
)

// Topics names the topics and group the service consumes; empty fields are the suite's
// (tests use their own).
type Topics struct {
	Events, Catalog, Segments, SegmentDefinitions, Privacy, Group string
	// PrivacyReceipts receives the service's erasure receipts.
	PrivacyReceipts string
}

func (t Topics) withDefaults() Topics {
	if t.Events == "" {
		t.Events = topics.Events
	}
	if t.Catalog == "" {
		t.Catalog = topics.Catalog
	}
	if t.Segments == "" {
		t.Segments = topics.Segments
	}
	if t.SegmentDefinitions == "" {
		t.SegmentDefinitions = topics.SegmentDefinitions
	}
	if t.Privacy == "" {
		t.Privacy = topics.Privacy
	}
	if t.PrivacyReceipts == "" {
		t.PrivacyReceipts = topics.PrivacyReceipts
	}
	if t.Group == "" {
		t.Group = topics.GroupRecommendation
	}
	return t
}

// Config configures the recommendation service.
type Config struct {
	Server server.Config `envPrefix:"STRATA_"`
	Kafka  bus.Config    `envPrefix:"STRATA_"`
	Redis  cache.Config  `envPrefix:"STRATA_"`

	// TrainInterval is how often the models retrain when events arrived since the last
	// run; TrainDelay is the wait before the first run. Zero means 15m and 30s.
	TrainInterval time.Duration `env:"STRATA_RECOMMENDATION_TRAIN_INTERVAL"`
	TrainDelay    time.Duration `env:"STRATA_RECOMMENDATION_TRAIN_DELAY"`
	// EASELambda and MaxEASEItems configure EASE (0: 300 and 5,000 items).
	EASELambda   float64 `env:"STRATA_RECOMMENDATION_EASE_LAMBDA"`
	MaxEASEItems int     `env:"STRATA_RECOMMENDATION_MAX_EASE_ITEMS"`
	// HalfLife is the half-life of interaction weights (0: 30 days).
	HalfLife time.Duration `env:"STRATA_RECOMMENDATION_HALF_LIFE"`
	// Variants lists the A/B variants as name:model:share%, comma-separated, models
	// being ease, itemknn or als, e.g. "ease:ease:50,itemknn:itemknn:50" (the default).
	Variants string `env:"STRATA_RECOMMENDATION_VARIANTS"`

	// Engine, when set, overrides the settings above (tests).
	Engine  *engine.Config `env:"-"`
	Topics  Topics         `env:"-"`
	Logger  *slog.Logger   `env:"-"`
	Metrics http.Handler   `env:"-"`
}

// DefaultConfig returns the defaults; environment variables override them.
func DefaultConfig() Config {
	return Config{
		Server:        server.Config{GRPCAddr: "127.0.0.1:9104", HTTPAddr: "127.0.0.1:8104", ShutdownTimeout: server.DefaultShutdownTimeout},
		TrainInterval: 15 * time.Minute,
		TrainDelay:    30 * time.Second,
	}
}

// ErrBadVariants is returned by Validate for a Variants value that does not parse.
var ErrBadVariants = errors.New("recommendation: STRATA_RECOMMENDATION_VARIANTS must be name:model:share,… with shares adding up to 100")

// Validate reports configuration errors.
func (c Config) Validate() error {
	ec, err := c.engineConfig()
	if err == nil {
		err = ec.Validate()
	}
	return errors.Join(c.Server.Validate(), c.Kafka.Validate(), c.Redis.Validate(), err)
}

func (c Config) engineConfig() (engine.Config, error) {
	if c.Engine != nil {
		return *c.Engine, nil
	}
	ec := engine.DefaultConfig()
	if c.EASELambda != 0 {
		ec.EASE.Lambda = c.EASELambda
	}
	if c.MaxEASEItems != 0 {
		ec.MaxEASEItems = c.MaxEASEItems
	}
	if c.HalfLife != 0 {
		ec.HalfLife = c.HalfLife
	}
	if c.Variants != "" {
		vs, err := parseVariants(c.Variants)
		if err != nil {
			return ec, err
		}
		ec.Variants = vs
	}
	return ec, nil
}

func parseVariants(s string) ([]engine.Variant, error) {
	var vs []engine.Variant
	for _, part := range strings.Split(s, ",") {
		f := strings.Split(strings.TrimSpace(part), ":")
		if len(f) != 3 {
			return nil, fmt.Errorf("%w: %q", ErrBadVariants, part)
		}
		share, err := strconv.Atoi(f[2])
		if err != nil {
			return nil, fmt.Errorf("%w: %q", ErrBadVariants, part)
		}
		vs = append(vs, engine.Variant{Name: f[0], Model: f[1], Share: share})
	}
	return vs, nil
}

// Run consumes, trains and serves until ctx is done, then drains and returns.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("service", "recommendation")
	cfg.Kafka.Logger = log
	if cfg.TrainInterval <= 0 {
		cfg.TrainInterval = 15 * time.Minute
	}
	if cfg.TrainDelay <= 0 {
		cfg.TrainDelay = 30 * time.Second
	}
	ec, err := cfg.engineConfig()
	if err != nil {
		return err
	}
	tp := cfg.Topics.withDefaults()
	ec.CatalogTopic, ec.SegmentsTopic, ec.SegmentDefinitionsTopic, ec.PrivacyTopic = tp.Catalog, tp.Segments, tp.SegmentDefinitions, tp.Privacy

	if err := bus.EnsureTopics(ctx, cfg.Kafka, topics.All()...); err != nil {
		return fmt.Errorf("recommendation: ensure topics: %w", err)
	}
	rdb, err := cache.Open(ctx, cfg.Redis)
	if err != nil {
		return fmt.Errorf("recommendation: %w", err)
	}
	defer rdb.Close()
	producer, err := bus.NewProducer(bus.ProducerConfig{Config: cfg.Kafka})
	if err != nil {
		return fmt.Errorf("recommendation: producer: %w", err)
	}
	defer producer.Close()
	ec.Receipts, ec.ReceiptsTopic = producer, tp.PrivacyReceipts
	eng, err := engine.New(ec, store.New(rdb, store.Limits{HalfLife: ec.HalfLife}), log)
	if err != nil {
		return fmt.Errorf("recommendation: %w", err)
	}
	defer eng.Close()
	if err := eng.LoadCatalog(ctx); err != nil {
		log.WarnContext(ctx, "catalog not loaded from Redis; it fills from strata.catalog.v1", "err", err)
	}

	// Batches are committed once each (a commit per message held the consumer to a
	// few hundred events a second); Handle is idempotent, so a failed batch that the
	// consumer re-runs message by message applies nothing twice.
	consumer, err := bus.NewBatchConsumer(
		bus.ConsumerConfig{Config: cfg.Kafka, GroupID: tp.Group, Topics: []string{tp.Events, tp.Catalog, tp.Segments, tp.SegmentDefinitions, tp.Privacy}},
		bus.InOrder(eng.Handle),
		bus.Reliable(producer, bus.RetryPolicy{}, log)...,
	)
	if err != nil {
		return fmt.Errorf("recommendation: consumer: %w", err)
	}
	srv, err := server.New(cfg.Server, log, server.WithName("recommendation"), server.WithMetrics(cfg.Metrics))
	if err != nil {
		return err
	}
	recommendationv1.RegisterRecommendationServiceServer(srv.GRPC(), grpcapi.New(eng))
	return srv.Run(ctx, consumer.Run, func(ctx context.Context) error {
		return eng.RunTrainer(ctx, cfg.TrainDelay, cfg.TrainInterval)
	})
}
