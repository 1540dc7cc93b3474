package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// EnvBrokers names the environment variable holding the comma-separated
// bootstrap brokers (host:port).
const EnvBrokers = "STRATA_KAFKA_BROKERS"

// Configuration errors returned by the Validate methods.
var (
	ErrMissingBrokers           = errors.New("bus: no Kafka brokers configured")
	ErrInvalidBroker            = errors.New("bus: invalid Kafka broker address, want host:port")
	ErrInvalidPartitions        = errors.New("bus: partitions must not be negative")
	ErrInvalidReplicationFactor = errors.New("bus: replication factor must not be negative")
	ErrMissingGroup             = errors.New("bus: no consumer group configured")
	ErrMissingTopics            = errors.New("bus: no topics to consume configured")
	ErrInvalidDuration          = errors.New("bus: durations must not be negative")
	ErrInvalidBatchSize         = errors.New("bus: batch size must not be negative")
)

// Config holds what every Kafka client of the suite shares. The env tags name the
// variables (after the STRATA_ prefix services give them) that config.Load reads.
type Config struct {
	// Brokers are the bootstrap brokers, host:port. Required.
	Brokers []string `env:"KAFKA_BROKERS" envSeparator:","`
	// ClientID identifies the client to the brokers (logs, quotas);
	// "strata" when empty.
	ClientID string `env:"KAFKA_CLIENT_ID"`
	// Partitions, when positive, overrides every spec's partition count in
	// EnsureTopics (e.g. 1 for small local setups).
	Partitions int `env:"KAFKA_PARTITIONS"`
	// ReplicationFactor, when positive, overrides every spec's replication
	// factor in EnsureTopics (e.g. 3 in production).
	ReplicationFactor int `env:"KAFKA_REPLICATION_FACTOR"`
	// Logger receives operational logs; nil discards them.
	Logger *slog.Logger `env:"-"`
	// TracerProvider creates the bus's spans; nil uses the global one.
	TracerProvider trace.TracerProvider `env:"-"`
	// MeterProvider creates the bus's instruments; nil uses the global one.
	MeterProvider metric.MeterProvider `env:"-"`
	// Propagator writes and reads trace context in message headers. Nil uses
	// the global propagator when one is set, and W3C trace context plus
	// baggage otherwise, so Kafka headers carry traceparent even before
	// telemetry is configured.
	Propagator propagation.TextMapPropagator `env:"-"`
}

// ParseBrokers splits a comma-separated broker list, as found in
// [EnvBrokers], dropping blanks.
func ParseBrokers(s string) []string {
	var out []string
	for _, b := range strings.Split(s, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// Validate reports the first configuration error, as one of the Err* sentinels
// (wrapped with detail).
func (c Config) Validate() error {
	if len(c.Brokers) == 0 {
		return ErrMissingBrokers
	}
	for _, b := range c.Brokers {
		host, port, err := net.SplitHostPort(b)
		if err != nil || host == "" || port == "" {
			return fmt.Errorf("%w: %q", ErrInvalidBroker, b)
		}
	}
	if c.Partitions < 0 {
		return ErrInvalidPartitions
	}
	if c.ReplicationFactor < 0 {
		return ErrInvalidReplicationFactor
	}
	return nil
}

func (c Config) clientID() string {
	if c.ClientID == "" {
		return "strata"
	}
	return c.ClientID
}

func (c Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

// instrumentationName names the tracer and meter of this package.
const instrumentationName = "github.com/stratahq/strata/pkg/bus"

func (c Config) tracer() trace.Tracer {
	tp := c.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return tp.Tracer(instrumentationName)
}

func (c Config) meter() metric.Meter {
	mp := c.MeterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	return mp.Meter(instrumentationName)
}

var w3c = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// propagator is resolved per call so that a global propagator installed after
// the client was built still takes effect.
func (c Config) propagator() propagation.TextMapPropagator {
	if c.Propagator != nil {
		return c.Propagator
	}
	if g := otel.GetTextMapPropagator(); len(g.Fields()) > 0 {
		return g
	}
	return w3c
}

// ConsumerConfig configures a [Consumer].
type ConsumerConfig struct {
	Config
	// GroupID is the consumer group; use a constant from package topics.
	GroupID string
	// Topics are the topics to consume.
	Topics []string
	// DrainTimeout bounds how long an in-flight handler and its commit may
	// run after Run's context is cancelled; then the handler's context is
	// cancelled too. Default 10s.
	DrainTimeout time.Duration
	// MaxWait is how long the broker holds a fetch on an idle partition
	// before answering empty; default 250ms. New data ends the wait at
	// once, so it does not add latency; it bounds how long a rebalance or
	// a shutdown waits for in-flight fetches, at the cost of one fetch per
	// partition per MaxWait when idle.
	MaxWait time.Duration
	// HeartbeatInterval, SessionTimeout and RebalanceTimeout tune group
	// membership; defaults 3s, 30s, 30s. The broker bounds SessionTimeout
	// (Kafka: group.min.session.timeout.ms, 6s by default).
	HeartbeatInterval time.Duration
	SessionTimeout    time.Duration
	RebalanceTimeout  time.Duration
	// JoinGroupBackoff is the pause before rejoining after a failed join;
	// default 1s.
	JoinGroupBackoff time.Duration
	// RedeliveryBackoff is the longest pause between two runs of the
	// handler chain on the same message after it returned an error (the
	// pause grows from 100ms up to it); default 5s.
	RedeliveryBackoff time.Duration
	// BatchSize is the most messages handled between two commits: the
	// largest slice a [BatchHandler] gets, or, with a [Handler], how many
	// messages are handled one by one before their offsets are committed
	// together. Default 1 for [NewConsumer] (a commit per message) and 500
	// for [NewBatchConsumer]. A crash redelivers at most one batch.
	BatchSize int
	// BatchWait is how long a batch waits, after its first message, for
	// more messages to arrive; messages already fetched join at once.
	// Default 0 for NewConsumer and 5ms for NewBatchConsumer; it adds up to
	// BatchWait to the latency of a message arriving alone.
	BatchWait time.Duration
}

// Validate reports the first configuration error, as one of the Err*
// sentinels.
func (c ConsumerConfig) Validate() error {
	if err := c.Config.Validate(); err != nil {
		return err
	}
	if c.GroupID == "" {
		return ErrMissingGroup
	}
	if len(c.Topics) == 0 {
		return ErrMissingTopics
	}
	for _, t := range c.Topics {
		if t == "" {
			return fmt.Errorf("%w: empty topic name", ErrMissingTopics)
		}
	}
	for _, d := range []time.Duration{c.DrainTimeout, c.MaxWait, c.HeartbeatInterval, c.SessionTimeout,
		c.RebalanceTimeout, c.JoinGroupBackoff, c.RedeliveryBackoff, c.BatchWait} {
		if d < 0 {
			return ErrInvalidDuration
		}
	}
	if c.BatchSize < 0 {
		return ErrInvalidBatchSize
	}
	return nil
}

// Batch defaults of NewBatchConsumer.
const (
	defaultBatchSize = 500
	defaultBatchWait = 5 * time.Millisecond
)

// withDefaults fills zero fields; batchSize and batchWait are the defaults of
// the kind of consumer being built.
func (c ConsumerConfig) withDefaults(batchSize int, batchWait time.Duration) ConsumerConfig {
	if c.BatchSize == 0 {
		c.BatchSize = batchSize
	}
	if c.BatchWait == 0 {
		c.BatchWait = batchWait
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.DrainTimeout, 10*time.Second)
	def(&c.MaxWait, 250*time.Millisecond)
	def(&c.HeartbeatInterval, 3*time.Second)
	def(&c.SessionTimeout, 30*time.Second)
	def(&c.RebalanceTimeout, 30*time.Second)
	def(&c.JoinGroupBackoff, time.Second)
	def(&c.RedeliveryBackoff, 5*time.Second)
	return c
}

// ProducerConfig configures a [Producer].
type ProducerConfig struct {
	Config
	// BatchTimeout is how long a partial batch waits for more messages
	// before it is sent; default 2ms. kafka-go's own default (1s) would add
	// up to a second to every synchronous Publish.
	BatchTimeout time.Duration
	// BatchSize is the most messages sent in one batch per partition;
	// default 1000.
	BatchSize int
	// WriteTimeout bounds one produce request; default 10s.
	WriteTimeout time.Duration
}

// Validate reports the first configuration error, as one of the Err*
// sentinels.
func (c ProducerConfig) Validate() error {
	if err := c.Config.Validate(); err != nil {
		return err
	}
	if c.BatchTimeout < 0 || c.WriteTimeout < 0 {
		return ErrInvalidDuration
	}
	if c.BatchSize < 0 {
		return ErrInvalidBatchSize
	}
	return nil
}

// sleep waits for d, or until ctx is done (reporting false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
