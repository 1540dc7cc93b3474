// Package crm is the composition root of the CRM service. It opens and migrates its
// database (PostgreSQL, or SQLite embedded); consumes strata.events.v1,
// strata.profiles.v1, strata.predictions.v1, strata.segments.v1 and strata.catalog.v1
// into the customer 360, and carries out right-to-erasure requests from
// strata.privacy.v1 (package customer); serves CRMService (package api: customers,
// campaigns and their reports, satisfaction, revenue and creator settlement); relays
// the campaign outbox to strata.crm.messages.v1 once each message is due (package
// outbox; quiet hours defer messages); and runs the scheduler: campaigns due at a time,
// recurring occurrences and segment-entry campaigns (package campaign).
//
// Lifecycle: Run starts everything and reports ready once the servers listen; on
// cancellation it stops consuming (the in-flight message finishes and commits), stops
// the relay and the scheduler, drains in-flight calls and closes the database.
package crm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/server"
	"github.com/stratahq/strata/pkg/topics"
	crmv1 "github.com/stratahq/strata/proto/strata/crm/v1"
	recommendationv1 "github.com/stratahq/strata/proto/strata/recommendation/v1"
	"github.com/stratahq/strata/services/crm/api"
	"github.com/stratahq/strata/services/crm/campaign"
	"github.com/stratahq/strata/services/crm/customer"
	"github.com/stratahq/strata/services/crm/outbox"
	"github.com/stratahq/strata/services/crm/revenue"
	"github.com/stratahq/strata/services/crm/store"
)

// Config configures the CRM service.
type Config struct {
	Server   server.Config `envPrefix:"STRATA_"`
	Kafka    bus.Config    `envPrefix:"STRATA_"`
	Store    store.Config
	Campaign campaign.Config
	// RecommendationAddr is the recommendation service's gRPC address (host:port), used
	// to fill campaign content with recommended items; none when empty.
	RecommendationAddr string `env:"STRATA_RECOMMENDATION_ADDR"`
	// SchedulerInterval is how often scheduled and recurring campaigns and queued segment
	// entries are handled (10s when 0); a segment entry wakes the scheduler at once.
	SchedulerInterval time.Duration `env:"STRATA_CRM_SCHEDULER_INTERVAL" envDefault:"10s"`
	// RelayInterval is how often the outbox relay polls when idle (1s when 0); a launch
	// wakes it at once.
	RelayInterval time.Duration `env:"STRATA_CRM_RELAY_INTERVAL" envDefault:"1s"`

	Logger  *slog.Logger `env:"-"`
	Metrics http.Handler `env:"-"`
	// Consumer, when set, tunes the consumer (tests shorten its timeouts); its Config,
	// GroupID and Topics are overwritten.
	Consumer *bus.ConsumerConfig `env:"-"`
}

// ErrNegativeInterval is returned by Validate for a negative interval.
var ErrNegativeInterval = errors.New("crm: intervals must not be negative")

// DefaultConfig returns the defaults; environment variables override them.
func DefaultConfig() Config {
	return Config{
		Server: server.Config{GRPCAddr: "127.0.0.1:9105", HTTPAddr: "127.0.0.1:8105", ShutdownTimeout: server.DefaultShutdownTimeout},
		Campaign: campaign.Config{ControlPercent: campaign.DefaultControlPercent, CapPerDay: campaign.DefaultCapPerDay, CapPerWeek: campaign.DefaultCapPerWeek,
			Timezone: "Asia/Shanghai", QuietStart: 21, QuietEnd: 8},
	}
}

// Validate reports configuration errors.
func (c Config) Validate() error {
	var errs []error
	if c.SchedulerInterval < 0 || c.RelayInterval < 0 {
		errs = append(errs, ErrNegativeInterval)
	}
	return errors.Join(append(errs, c.Server.Validate(), c.Kafka.Validate(), c.Store.Validate(), c.Campaign.Validate())...)
}

// Run consumes, relays and serves until ctx is done, then drains and returns.
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
	if cfg.SchedulerInterval == 0 {
		cfg.SchedulerInterval = 10 * time.Second
	}

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

	relay := outbox.New(db, producer, outbox.Config{Interval: cfg.RelayInterval, Logger: log, Now: cfg.Campaign.Now})
	campCfg := cfg.Campaign
	campCfg.Logger = log
	if cfg.RecommendationAddr != "" {
		conn, err := grpc.NewClient(cfg.RecommendationAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithStatsHandler(otelgrpc.NewClientHandler()))
		if err != nil {
			return fmt.Errorf("crm: recommendation client: %w", err)
		}
		defer conn.Close()
		campCfg.Recommender = recommender{c: recommendationv1.NewRecommendationServiceClient(conn)}
	}
	campaigns, err := campaign.New(db, campCfg, relay.Notify)
	if err != nil {
		return fmt.Errorf("crm: %w", err)
	}

	cc := bus.ConsumerConfig{}
	if cfg.Consumer != nil {
		cc = *cfg.Consumer
	}
	cc.Config, cc.GroupID, cc.Topics = cfg.Kafka, topics.GroupCRM, customer.Topics()
	handler := customer.NewHandler(db, log)
	handler.OnSegmentEntry(campaigns.WakeScheduler)
	handler.PublishReceipts(producer)
	// Batches: one database transaction per batch keeps the CRM abreast of the event
	// stream (one per message managed tens of events a second on PostgreSQL).
	consumer, err := bus.NewBatchConsumer(cc, handler.HandleBatch, bus.Reliable(producer, bus.RetryPolicy{}, log)...)
	if err != nil {
		return fmt.Errorf("crm: consumer: %w", err)
	}
	srv, err := server.New(cfg.Server, log, server.WithName("crm"), server.WithMetrics(cfg.Metrics),
		server.WithHealthCheck(db.Ping))
	if err != nil {
		return err
	}
	crmv1.RegisterCRMServiceServer(srv.GRPC(), api.New(db, campaigns, revenue.New(db, nil), log))
	return srv.Run(ctx, consumer.Run, relay.Run, func(ctx context.Context) error {
		return campaigns.RunScheduler(ctx, cfg.SchedulerInterval)
	})
}

// recommender fills campaign content from the recommendation service (scene email).
type recommender struct {
	c recommendationv1.RecommendationServiceClient
}

// Recommend asks for n items; the campaign service bounds the call with its timeout.
func (r recommender) Recommend(ctx context.Context, userID string, n int) ([]string, error) {
	resp, err := r.c.Recommend(ctx, &recommendationv1.RecommendRequest{UserId: userID, Scene: recommendationv1.Scene_SCENE_EMAIL, N: int32(n)})
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, it := range resp.GetItems() {
		ids = append(ids, it.GetItemId())
	}
	return ids, nil
}
