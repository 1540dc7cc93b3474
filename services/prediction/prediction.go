// Package prediction is the composition root of the prediction service (demand
// prediction): purchase propensity, churn risk and customer lifetime value per user,
// each explainable per feature.
//
// It consumes strata.events.v1 (folded into per-user feature state by package scoring,
// with the feature code of package features that training uses too; at start-up the
// state is rebuilt from the topic's retained history, see readRetained) and
// strata.profiles.v1 (a profile change makes its user due for rescoring), scores due
// users after a debounce interval with the promoted versions of the model registry
// (package registry; STRATA_PREDICTION_MODEL_DIR, in memory when unset) and publishes
// the scores to the compacted strata.predictions.v1 keyed by user id. A second consumer
// group reads strata.privacy.v1 and carries out erasure requests (scoring.Engine.Erase:
// the user's state is dropped and the prediction tombstoned); the warm-up reads the
// retained requests first, so that a restart does not rebuild erased users. It serves
// PredictionService over gRPC: Predict, Explain, ListModels, TrainModels and
// RollbackModel. Training runs on a schedule (STRATA_PREDICTION_RETRAIN_INTERVAL,
// daily by default) and on demand.
//
// The models live in packages clv (BG/NBD and Gamma-Gamma), learn (gradient-boosted
// trees, random forest, logistic regression, calibration, TreeSHAP) and model (the
// artefacts); package evaluate runs the offline evaluations of `strata eval`.
package prediction

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/server"
	"github.com/stratahq/strata/pkg/topics"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	predictionv1 "github.com/stratahq/strata/proto/strata/prediction/v1"
	"github.com/stratahq/strata/services/prediction/grpcapi"
	"github.com/stratahq/strata/services/prediction/registry"
	"github.com/stratahq/strata/services/prediction/scoring"
)

// Config configures the prediction service.
type Config struct {
	Server   server.Config   `envPrefix:"STRATA_"`
	Kafka    bus.Config      `envPrefix:"STRATA_"`
	Registry registry.Config `envPrefix:"STRATA_"`
	Scoring  scoring.Config  `envPrefix:"STRATA_"`
	// Consumer tunes the consumer group (tests shorten its timeouts); Kafka, group
	// and topics are set by Run.
	Consumer bus.ConsumerConfig `env:"-"`
	// Topics overrides topic and group names; tests isolate themselves with it on
	// shared brokers. Empty fields take the pkg/topics constants.
	Topics Topics `env:"-"`

	Logger  *slog.Logger `env:"-"`
	Metrics http.Handler `env:"-"`
}

// Topics names what the service consumes and produces.
type Topics struct {
	Events, Profiles, Predictions, Group string
	// Privacy is read by its own group, PrivacyGroup; erasure receipts go to Receipts.
	Privacy, PrivacyGroup, Receipts string
}

func (t Topics) withDefaults() Topics {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&t.Events, topics.Events)
	def(&t.Profiles, topics.Profiles)
	def(&t.Predictions, topics.Predictions)
	def(&t.Group, topics.GroupPrediction)
	def(&t.Privacy, topics.Privacy)
	def(&t.PrivacyGroup, topics.GroupPredictionPrivacy)
	def(&t.Receipts, topics.PrivacyReceipts)
	return t
}

// DefaultConfig returns the defaults; environment variables override them.
func DefaultConfig() Config {
	return Config{
		Server: server.Config{GRPCAddr: "127.0.0.1:9103", HTTPAddr: "127.0.0.1:8103", ShutdownTimeout: server.DefaultShutdownTimeout},
	}
}

// Validate reports configuration errors.
func (c Config) Validate() error {
	return errors.Join(c.Server.Validate(), c.Kafka.Validate(), c.Scoring.Validate())
}

// Run consumes and serves until ctx is done, then drains and returns.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("service", "prediction")
	cfg.Kafka.Logger = log

	if err := bus.EnsureTopics(ctx, cfg.Kafka, topics.All()...); err != nil {
		return fmt.Errorf("prediction: ensure topics: %w", err)
	}
	reg, err := registry.Open(cfg.Registry)
	if err != nil {
		return fmt.Errorf("prediction: %w", err)
	}
	producer, err := bus.NewProducer(bus.ProducerConfig{Config: cfg.Kafka})
	if err != nil {
		return fmt.Errorf("prediction: producer: %w", err)
	}
	defer producer.Close()
	tp := cfg.Topics.withDefaults()
	cfg.Scoring.ProfilesTopic, cfg.Scoring.PredictionsTopic, cfg.Scoring.ReceiptsTopic = tp.Profiles, tp.Predictions, tp.Receipts
	if cfg.Scoring.WarmUp == nil {
		cfg.Scoring.WarmUp = func(ctx context.Context, apply func(int32, time.Time, *eventv1.Event)) (int, error) {
			return readRetained(ctx, cfg.Kafka, tp.Events, apply)
		}
		cfg.Scoring.WarmUpErasures = func(ctx context.Context, erase func(string, time.Time)) (int, error) {
			return readErasures(ctx, cfg.Kafka, tp.Privacy, erase)
		}
	}
	engine, err := scoring.New(cfg.Scoring, reg, producer, log)
	if err != nil {
		return fmt.Errorf("prediction: %w", err)
	}
	cc := cfg.Consumer
	cc.Config, cc.GroupID, cc.Topics = cfg.Kafka, tp.Group, []string{tp.Profiles, tp.Events}
	// Batches: one commit per batch (a commit per message held consumption to a few
	// hundred events a second on real Kafka).
	consumer, err := bus.NewBatchConsumer(cc, bus.InOrder(engine.Handle), bus.Reliable(producer, bus.RetryPolicy{}, log)...)
	if err != nil {
		return fmt.Errorf("prediction: consumer: %w", err)
	}
	pc := cfg.Consumer
	pc.Config, pc.GroupID, pc.Topics = cfg.Kafka, tp.PrivacyGroup, []string{tp.Privacy}
	erasures, err := bus.NewConsumer(pc, engine.HandlePrivacy, bus.Reliable(producer, bus.RetryPolicy{}, log)...)
	if err != nil {
		return fmt.Errorf("prediction: privacy consumer: %w", err)
	}
	srv, err := server.New(cfg.Server, log, server.WithName("prediction"), server.WithMetrics(cfg.Metrics))
	if err != nil {
		return err
	}
	predictionv1.RegisterPredictionServiceServer(srv.GRPC(), grpcapi.New(engine, reg))
	return srv.Run(ctx, consumer.Run, erasures.Run, engine.Run)
}
