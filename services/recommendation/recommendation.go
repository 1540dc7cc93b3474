// Package recommendation is the composition root of the recommendation service. In this first
// version it joins its consumer group on strata.events.v1 and strata.catalog.v1, checks
// that every message decodes (undecodable ones go to the dead-letter topic), reports
// healthy and answers RecommendationService calls with Unimplemented until the recommenders land.
package recommendation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/server"
	"github.com/stratahq/strata/pkg/topics"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	recommendationv1 "github.com/stratahq/strata/proto/strata/recommendation/v1"
)

// Config configures the recommendation service.
type Config struct {
	Server server.Config `envPrefix:"STRATA_"`
	Kafka  bus.Config    `envPrefix:"STRATA_"`

	Logger  *slog.Logger `env:"-"`
	Metrics http.Handler `env:"-"`
}

// DefaultConfig returns the defaults; environment variables override them.
func DefaultConfig() Config {
	return Config{
		Server: server.Config{GRPCAddr: "127.0.0.1:9104", HTTPAddr: "127.0.0.1:8104", ShutdownTimeout: server.DefaultShutdownTimeout},
	}
}

// Validate reports configuration errors.
func (c Config) Validate() error {
	return errors.Join(c.Server.Validate(), c.Kafka.Validate())
}

type service struct {
	recommendationv1.UnimplementedRecommendationServiceServer
}

// check verifies that a message decodes; the models that use them come with later work.
func check(_ context.Context, msg bus.Message) error {
	if msg.Topic == topics.Catalog {
		return bus.DecodeProto(msg, &eventv1.CatalogItem{})
	}
	return bus.DecodeProto(msg, &eventv1.Event{})
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
	log = log.With("service", "recommendation")
	cfg.Kafka.Logger = log

	if err := bus.EnsureTopics(ctx, cfg.Kafka, topics.All()...); err != nil {
		return fmt.Errorf("recommendation: ensure topics: %w", err)
	}
	producer, err := bus.NewProducer(bus.ProducerConfig{Config: cfg.Kafka})
	if err != nil {
		return fmt.Errorf("recommendation: producer: %w", err)
	}
	defer producer.Close()
	consumer, err := bus.NewConsumer(
		bus.ConsumerConfig{Config: cfg.Kafka, GroupID: topics.GroupRecommendation, Topics: []string{topics.Events, topics.Catalog}},
		check,
		bus.Reliable(producer, bus.RetryPolicy{}, log)...,
	)
	if err != nil {
		return fmt.Errorf("recommendation: consumer: %w", err)
	}
	srv, err := server.New(cfg.Server, log, server.WithName("recommendation"), server.WithMetrics(cfg.Metrics))
	if err != nil {
		return err
	}
	recommendationv1.RegisterRecommendationServiceServer(srv.GRPC(), service{})
	return srv.Run(ctx, consumer.Run)
}
