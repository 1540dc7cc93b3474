// Package profile is the composition root of the profile service: it consumes
// strata.events.v1, keeps one profile per user (Redis cache, compacted strata.profiles.v1
// changelog) and serves ProfileService. Config and Run are all a binary or the all-in-one
// command needs.
package profile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/cache"
	"github.com/stratahq/strata/pkg/server"
	"github.com/stratahq/strata/pkg/topics"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	"github.com/stratahq/strata/services/profile/grpcapi"
	"github.com/stratahq/strata/services/profile/store"
	"github.com/stratahq/strata/services/profile/updater"
)

// Config configures the profile service.
type Config struct {
	Server server.Config `envPrefix:"STRATA_"`
	Kafka  bus.Config    `envPrefix:"STRATA_"`
	Redis  cache.Config  `envPrefix:"STRATA_"`

	Logger  *slog.Logger `env:"-"`
	Metrics http.Handler `env:"-"`
}

// DefaultConfig returns the defaults; environment variables override them.
func DefaultConfig() Config {
	return Config{
		Server: server.Config{GRPCAddr: "127.0.0.1:9102", HTTPAddr: "127.0.0.1:8102", ShutdownTimeout: server.DefaultShutdownTimeout},
	}
}

// Validate reports configuration errors.
func (c Config) Validate() error {
	return errors.Join(c.Server.Validate(), c.Kafka.Validate(), c.Redis.Validate())
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
	log = log.With("service", "profile")
	cfg.Kafka.Logger = log

	if err := bus.EnsureTopics(ctx, cfg.Kafka, topics.All()...); err != nil {
		return fmt.Errorf("profile: ensure topics: %w", err)
	}
	rdb, err := cache.Open(ctx, cfg.Redis)
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	defer rdb.Close()
	producer, err := bus.NewProducer(bus.ProducerConfig{Config: cfg.Kafka})
	if err != nil {
		return fmt.Errorf("profile: producer: %w", err)
	}
	defer producer.Close()

	profiles := store.New(rdb)
	consumer, err := bus.NewConsumer(
		bus.ConsumerConfig{Config: cfg.Kafka, GroupID: topics.GroupProfile, Topics: []string{topics.Events}},
		updater.New(profiles, producer).Handle,
		bus.Reliable(producer, bus.RetryPolicy{}, log)...,
	)
	if err != nil {
		return fmt.Errorf("profile: consumer: %w", err)
	}
	srv, err := server.New(cfg.Server, log, server.WithName("profile"), server.WithMetrics(cfg.Metrics))
	if err != nil {
		return err
	}
	profilev1.RegisterProfileServiceServer(srv.GRPC(), grpcapi.New(profiles))
	return srv.Run(ctx, consumer.Run)
}
