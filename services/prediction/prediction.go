// Package prediction is the composition root of the prediction service. In this first
// version it joins its consumer group on strata.profiles.v1 and strata.events.v1, checks
// that every message decodes (undecodable ones go to the dead-letter topic), reports
// healthy and answers PredictionService calls with Unimplemented until the models land.
package prediction

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
	predictionv1 "github.com/stratahq/strata/proto/strata/prediction/v1"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
)

// Config configures the prediction service.
type Config struct {
	Server server.Config `envPrefix:"STRATA_"`
	Kafka  bus.Config    `envPrefix:"STRATA_"`

	Logger  *slog.Logger `env:"-"`
	Metrics http.Handler `env:"-"`
}

// DefaultConfig returns the defaults; environment variables override them.
func DefaultConfig() Config {
	return Config{
		Server: server.Config{GRPCAddr: "127.0.0.1:9103", HTTPAddr: "127.0.0.1:8103", ShutdownTimeout: server.DefaultShutdownTimeout},
	}
}

// Validate reports configuration errors.
func (c Config) Validate() error {
	return errors.Join(c.Server.Validate(), c.Kafka.Validate())
}

type service struct {
	predictionv1.UnimplementedPredictionServiceServer
}

// check verifies that a message decodes; the models that use them come with later work.
func check(_ context.Context, msg bus.Message) error {
	if msg.Topic == topics.Profiles {
		return bus.DecodeProto(msg, &profilev1.Profile{})
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
	log = log.With("service", "prediction")
	cfg.Kafka.Logger = log

	if err := bus.EnsureTopics(ctx, cfg.Kafka, topics.All()...); err != nil {
		return fmt.Errorf("prediction: ensure topics: %w", err)
	}
	producer, err := bus.NewProducer(bus.ProducerConfig{Config: cfg.Kafka})
	if err != nil {
		return fmt.Errorf("prediction: producer: %w", err)
	}
	defer producer.Close()
	consumer, err := bus.NewConsumer(
		bus.ConsumerConfig{Config: cfg.Kafka, GroupID: topics.GroupPrediction, Topics: []string{topics.Profiles, topics.Events}},
		check,
		bus.Reliable(producer, bus.RetryPolicy{}, log)...,
	)
	if err != nil {
		return fmt.Errorf("prediction: consumer: %w", err)
	}
	srv, err := server.New(cfg.Server, log, server.WithName("prediction"), server.WithMetrics(cfg.Metrics))
	if err != nil {
		return err
	}
	predictionv1.RegisterPredictionServiceServer(srv.GRPC(), service{})
	return srv.Run(ctx, consumer.Run)
}
