// Package ingest is the composition root of the ingest service: it accepts behaviour
// events over the Segment HTTP API and gRPC and publishes them, validated and normalised,
// to strata.events.v1. Config and Run are all a binary or the all-in-one command needs.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/server"
	"github.com/stratahq/strata/pkg/topics"
	ingestv1 "github.com/stratahq/strata/proto/strata/ingest/v1"
	"github.com/stratahq/strata/services/ingest/grpcapi"
	"github.com/stratahq/strata/services/ingest/httpapi"
	"github.com/stratahq/strata/services/ingest/pipeline"
)

// ErrNoWriteKeys is returned by Validate when no Segment write key is configured.
var ErrNoWriteKeys = errors.New("ingest: at least one write key is required (STRATA_INGEST_WRITE_KEYS=key:source)")

// Config configures the ingest service.
type Config struct {
	Server server.Config `envPrefix:"STRATA_"`
	Kafka  bus.Config    `envPrefix:"STRATA_"`
	// WriteKeys maps Segment write keys to source ids: "key1:web,key2:ios".
	WriteKeys map[string]string `env:"STRATA_INGEST_WRITE_KEYS" envKeyValSeparator:":"`

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
	return errors.Join(c.Server.Validate(), c.Kafka.Validate())
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
	producer, err := bus.NewProducer(bus.ProducerConfig{Config: cfg.Kafka})
	if err != nil {
		return fmt.Errorf("ingest: producer: %w", err)
	}
	defer producer.Close()

	pipe, err := pipeline.New(producer)
	if err != nil {
		return err
	}
	srv, err := server.New(cfg.Server, log, server.WithName("ingest"), server.WithMetrics(cfg.Metrics))
	if err != nil {
		return err
	}
	ingestv1.RegisterIngestServiceServer(srv.GRPC(), grpcapi.New(pipe, producer))
	srv.Handle("/v1/", httpapi.New(pipe, cfg.WriteKeys, log))
	return srv.Run(ctx)
}
