// Package crm is the composition root of the CRM service. In this first version it opens
// and migrates its database (PostgreSQL, or SQLite embedded), joins its consumer group on
// the topics it will build the customer 360 from, checks that every message decodes
// (undecodable ones go to the dead-letter topic), reports healthy and answers CRMService
// calls with Unimplemented until campaigns and reports land.
package crm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/server"
	"github.com/stratahq/strata/pkg/topics"
	crmv1 "github.com/stratahq/strata/proto/strata/crm/v1"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	predictionv1 "github.com/stratahq/strata/proto/strata/prediction/v1"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	"github.com/stratahq/strata/services/crm/store"
)

// Config configures the CRM service.
type Config struct {
	Server server.Config `envPrefix:"STRATA_"`
	Kafka  bus.Config    `envPrefix:"STRATA_"`
	Store  store.Config

	Logger  *slog.Logger `env:"-"`
	Metrics http.Handler `env:"-"`
}

// DefaultConfig returns the defaults; environment variables override them.
func DefaultConfig() Config {
	return Config{
		Server: server.Config{GRPCAddr: "127.0.0.1:9105", HTTPAddr: "127.0.0.1:8105", ShutdownTimeout: server.DefaultShutdownTimeout},
	}
}

// Validate reports configuration errors.
func (c Config) Validate() error {
	return errors.Join(c.Server.Validate(), c.Kafka.Validate(), c.Store.Validate())
}

type service struct {
	crmv1.UnimplementedCRMServiceServer
}

// check verifies that a message decodes; the customer 360 that uses them comes later.
func check(_ context.Context, msg bus.Message) error {
	switch msg.Topic {
	case topics.Profiles:
		return bus.DecodeProto(msg, &profilev1.Profile{})
	case topics.Predictions:
		return bus.DecodeProto(msg, &predictionv1.Prediction{})
	default:
		return bus.DecodeProto(msg, &eventv1.Event{})
	}
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
	log = log.With("service", "crm")
	cfg.Kafka.Logger = log

	db, err := store.Open(ctx, cfg.Store)
	if err != nil {
		return fmt.Errorf("crm: %w", err)
	}
	defer db.Close()
	if err := bus.EnsureTopics(ctx, cfg.Kafka, topics.All()...); err != nil {
		return fmt.Errorf("crm: ensure topics: %w", err)
	}
	producer, err := bus.NewProducer(bus.ProducerConfig{Config: cfg.Kafka})
	if err != nil {
		return fmt.Errorf("crm: producer: %w", err)
	}
	defer producer.Close()
	consumer, err := bus.NewConsumer(
		bus.ConsumerConfig{Config: cfg.Kafka, GroupID: topics.GroupCRM,
			Topics: []string{topics.Events, topics.Segments, topics.Predictions, topics.Profiles}},
		check,
		bus.Reliable(producer, bus.RetryPolicy{}, log)...,
	)
	if err != nil {
		return fmt.Errorf("crm: consumer: %w", err)
	}
	srv, err := server.New(cfg.Server, log, server.WithName("crm"), server.WithMetrics(cfg.Metrics))
	if err != nil {
		return err
	}
	crmv1.RegisterCRMServiceServer(srv.GRPC(), service{})
	return srv.Run(ctx, consumer.Run)
}
