// Package profile is the composition root of the profile service: it consumes
// strata.events.v1, strata.predictions.v1 and strata.privacy.v1 (erasure requests: the
// profile is deleted and tombstoned, see package updater), keeps one profile per user (Redis cache,
// compacted strata.profiles.v1 changelog), follows the segment definitions on
// strata.segment-definitions.v1, publishes segment enter/exit events to
// strata.segments.v1, calibrates RFM and back-fills segments, and serves ProfileService.
// Config and Run are all a binary or the all-in-one command needs.
//
// Start-up order: topics, Redis, then (before consuming) the profile cache is restored
// from the changelog if Redis lost it and the segment definitions are loaded; only then
// does the instance consume and report ready.
package profile

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/cache"
	"github.com/stratahq/strata/pkg/server"
	"github.com/stratahq/strata/pkg/topics"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	"github.com/stratahq/strata/services/profile/definitions"
	"github.com/stratahq/strata/services/profile/grpcapi"
	"github.com/stratahq/strata/services/profile/restore"
	"github.com/stratahq/strata/services/profile/segment"
	"github.com/stratahq/strata/services/profile/state"
	"github.com/stratahq/strata/services/profile/store"
	"github.com/stratahq/strata/services/profile/sweep"
	"github.com/stratahq/strata/services/profile/updater"
)

// Settings tune the profile computation. Zero values take the defaults named.
type Settings struct {
	// SessionGap ends a session after this inactivity (30m).
	SessionGap time.Duration `env:"SESSION_GAP"`
	// InterestHalfLife is the half-life of interest weights (720h, 30 days).
	InterestHalfLife time.Duration `env:"INTEREST_HALF_LIFE"`
	// DefaultCurrency is the currency of revenue that names none (CNY).
	DefaultCurrency string `env:"DEFAULT_CURRENCY"`
	// Lifecycle thresholds, in days (see state.LifecycleRules): new 14, at risk after
	// 14, dormant after 45, churned after 90, reactivated for 30, engaged with 8 active
	// days or 120 learning minutes in 30 days.
	NewDays           int     `env:"LIFECYCLE_NEW_DAYS"`
	AtRiskAfterDays   int     `env:"LIFECYCLE_AT_RISK_AFTER_DAYS"`
	DormantAfterDays  int     `env:"LIFECYCLE_DORMANT_AFTER_DAYS"`
	ChurnedAfterDays  int     `env:"LIFECYCLE_CHURNED_AFTER_DAYS"`
	ReactivatedDays   int     `env:"LIFECYCLE_REACTIVATED_DAYS"`
	EngagedActiveDays int     `env:"LIFECYCLE_ENGAGED_ACTIVE_DAYS"`
	EngagedMinutes    float64 `env:"LIFECYCLE_ENGAGED_MINUTES"`
	// RFMInterval is how often RFM is recalibrated and every segment re-evaluated (1h).
	RFMInterval time.Duration `env:"RFM_INTERVAL"`
	// SegmentPollInterval is how often pending back-fills are looked for (2s).
	SegmentPollInterval time.Duration `env:"SEGMENT_POLL_INTERVAL"`
	// ClusterK is the number of behaviour clusters, computed with each RFM calibration;
	// 0 chooses k in 2..8 by silhouette.
	ClusterK int `env:"CLUSTER_K"`
}

// Deriver returns the fold parameters and derivation rules the settings describe.
func (s Settings) Deriver() state.Deriver {
	lc := state.LifecycleRules{
		NewDays: s.NewDays, AtRiskAfterDays: s.AtRiskAfterDays, DormantAfterDays: s.DormantAfterDays,
		ChurnedAfterDays: s.ChurnedAfterDays, ReactivatedDays: s.ReactivatedDays,
		EngagedActiveDays: s.EngagedActiveDays, EngagedMinutes: s.EngagedMinutes,
	}.WithDefaults()
	return state.Deriver{
		Params: state.Params{
			SessionGap: s.SessionGap, InterestHalfLife: s.InterestHalfLife, DefaultCurrency: s.DefaultCurrency,
			// A return after dormancy is a reactivation.
			ReturnGap: time.Duration(lc.DormantAfterDays) * 24 * time.Hour,
		}.WithDefaults(),
		Lifecycle: lc,
	}
}

// ErrInvalidSettings is returned by Validate for negative settings.
var ErrInvalidSettings = errors.New("profile: settings must not be negative")

// Validate reports settings errors.
func (s Settings) Validate() error {
	for _, d := range []time.Duration{s.SessionGap, s.InterestHalfLife, s.RFMInterval, s.SegmentPollInterval} {
		if d < 0 {
			return ErrInvalidSettings
		}
	}
	for _, n := range []int{s.NewDays, s.AtRiskAfterDays, s.DormantAfterDays, s.ChurnedAfterDays, s.ReactivatedDays, s.EngagedActiveDays, s.ClusterK} {
		if n < 0 {
			return ErrInvalidSettings
		}
	}
	if s.EngagedMinutes < 0 {
		return ErrInvalidSettings
	}
	return nil
}

// Topics names the topics and group the service uses; empty fields are the suite's
// (package topics). Tests override them to run apart on shared infrastructure.
type Topics struct {
	Events, Predictions, Profiles, Segments, SegmentDefinitions, Privacy, Group string
	// Receipts is where erasure receipts go (strata.privacy.receipts.v1).
	Receipts string
}

func (t Topics) withDefaults() Topics {
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&t.Events, topics.Events)
	def(&t.Predictions, topics.Predictions)
	def(&t.Profiles, topics.Profiles)
	def(&t.Segments, topics.Segments)
	def(&t.SegmentDefinitions, topics.SegmentDefinitions)
	def(&t.Privacy, topics.Privacy)
	def(&t.Receipts, topics.PrivacyReceipts)
	def(&t.Group, topics.GroupProfile)
	return t
}

// Config configures the profile service.
type Config struct {
	Server  server.Config `envPrefix:"STRATA_"`
	Kafka   bus.Config    `envPrefix:"STRATA_"`
	Redis   cache.Config  `envPrefix:"STRATA_"`
	Profile Settings      `envPrefix:"STRATA_PROFILE_"`

	Topics Topics `env:"-"`
	// TuneConsumer, when set, adjusts the consumer group settings (tests shorten the
	// session timeout).
	TuneConsumer func(bus.ConsumerConfig) bus.ConsumerConfig `env:"-"`
	// Now is the clock derived fields are computed with; time.Now when nil.
	Now     func() time.Time `env:"-"`
	Logger  *slog.Logger     `env:"-"`
	Metrics http.Handler     `env:"-"`
}

// DefaultConfig returns the defaults; environment variables override them.
func DefaultConfig() Config {
	return Config{
		Server: server.Config{GRPCAddr: "127.0.0.1:9102", HTTPAddr: "127.0.0.1:8102", ShutdownTimeout: server.DefaultShutdownTimeout},
	}
}

// Validate reports configuration errors.
func (c Config) Validate() error {
	return errors.Join(c.Server.Validate(), c.Kafka.Validate(), c.Redis.Validate(), c.Profile.Validate())
}

// ErrNotReady is reported by the health check (/healthz) until the instance consumes.
var ErrNotReady = errors.New("profile: restoring state")

// changelogBatchTimeout is the producer's batch timeout: the smallest that still lets
// concurrent publishes (segment events, dead letters) share a batch.
const changelogBatchTimeout = 50 * time.Microsecond

// A consumer batch is at most consumerBatchSize messages, waiting at most
// consumerBatchWait for them: each batch costs a few round trips to Redis and Kafka
// whatever its size, so under load batches fill up and the round trips are shared; an
// event arriving alone waits consumerBatchWait at most.
const (
	consumerBatchSize = 2000
	consumerBatchWait = 5 * time.Millisecond
)

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
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	tp := cfg.Topics.withDefaults()
	owner := instanceID()

	if err := bus.EnsureTopics(ctx, cfg.Kafka, topics.All()...); err != nil {
		return fmt.Errorf("profile: ensure topics: %w", err)
	}
	rdb, err := cache.Open(ctx, cfg.Redis)
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	defer rdb.Close()
	// The updater publishes a consumer batch's profiles in one call and waits for the
	// acknowledgement: a batch timeout would only add to every batch's latency.
	producer, err := bus.NewProducer(bus.ProducerConfig{Config: cfg.Kafka, BatchTimeout: changelogBatchTimeout})
	if err != nil {
		return fmt.Errorf("profile: producer: %w", err)
	}
	defer producer.Close()

	st := store.New(rdb)
	compiler, err := segment.NewCompiler()
	if err != nil {
		return err
	}
	registry := segment.NewRegistry(compiler)
	deriver := cfg.Profile.Deriver()
	bounds, clusters := &sweep.Boundaries{}, &sweep.Clusters{}
	restorer := restore.New(st, cfg.Kafka, tp.Profiles, owner, log)

	up := updater.New(st, producer,
		updater.WithClock(now),
		updater.WithDeriver(deriver),
		updater.WithBoundaries(bounds.Current),
		updater.WithClusters(clusters.Current),
		updater.WithSegments(registry, st),
		updater.WithRestoreGate(restorer.Ensure),
		updater.WithErasures(st),
		updater.WithTopics(updater.Topics{Events: tp.Events, Predictions: tp.Predictions, Profiles: tp.Profiles, Segments: tp.Segments,
			Privacy: tp.Privacy, Receipts: tp.Receipts}),
		updater.WithLogger(log),
	)
	sweeper := sweep.New(sweep.Config{RFMInterval: cfg.Profile.RFMInterval, PollInterval: cfg.Profile.SegmentPollInterval, Owner: owner,
		ClusterK: cfg.Profile.ClusterK, Clusters: clusters},
		st, registry, compiler, deriver, bounds, up.PublishSegmentEvents, now, log)
	ccfg := bus.ConsumerConfig{Config: cfg.Kafka, GroupID: tp.Group, Topics: []string{tp.Events, tp.Predictions, tp.Privacy},
		BatchSize: consumerBatchSize, BatchWait: consumerBatchWait}
	if cfg.TuneConsumer != nil {
		ccfg = cfg.TuneConsumer(ccfg)
	}
	consumer, err := bus.NewBatchConsumer(ccfg,
		up.HandleBatch,
		bus.Reliable(producer, bus.RetryPolicy{}, log)...,
	)
	if err != nil {
		return fmt.Errorf("profile: consumer: %w", err)
	}

	var ready atomic.Bool
	srv, err := server.New(cfg.Server, log, server.WithName("profile"), server.WithMetrics(cfg.Metrics),
		server.WithHealthCheck(func(context.Context) error {
			if !ready.Load() {
				return ErrNotReady
			}
			return nil
		}))
	if err != nil {
		return err
	}
	profilev1.RegisterProfileServiceServer(srv.GRPC(), grpcapi.New(grpcapi.Deps{
		Profiles: st, Segments: st, Registry: registry, Compiler: compiler,
		Definitions: definitions.NewWriter(producer, tp.SegmentDefinitions, registry),
		Sweeps:      sweeper, Deriver: deriver, Boundaries: bounds.Current, Clusters: clusters.Current, Now: now,
		Restored: restorer.Check,
	}))

	caughtUp, restored := make(chan struct{}), make(chan struct{})
	follow := func(ctx context.Context) error {
		return definitions.Follow(ctx, cfg.Kafka, tp.SegmentDefinitions, registry, log, caughtUp)
	}
	// Back-fills and calibrations scan Redis: not before it holds every profile.
	sweeps := func(ctx context.Context) error {
		select {
		case <-restored:
			return sweeper.Run(ctx)
		case <-ctx.Done():
			return nil
		}
	}
	consume := func(ctx context.Context) error {
		// Without its state the instance must not consume; Kafka or Redis trouble at
		// start (a topic not yet in the metadata) is waited out, not fatal.
		for attempt := 1; ; attempt++ {
			err := restorer.Ensure(ctx)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return nil
			}
			log.WarnContext(ctx, "profile: restore the profile cache", slog.Int("attempt", attempt), slog.Any("error", err))
			select {
			case <-time.After(min(time.Duration(attempt)*500*time.Millisecond, 10*time.Second)):
			case <-ctx.Done():
				return nil
			}
		}
		select {
		case <-caughtUp:
		case <-ctx.Done():
			return nil
		}
		if err := sweeper.Refresh(ctx); err != nil {
			log.WarnContext(ctx, "profile: read RFM boundaries", slog.Any("error", err))
		}
		ready.Store(true)
		close(restored)
		log.InfoContext(ctx, "profile: state restored, consuming")
		return consumer.Run(ctx)
	}
	return srv.Run(ctx, follow, sweeps, consume)
}

func instanceID() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
}
