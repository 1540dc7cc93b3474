package devstack

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// KafkaConfig configures an embedded Kafka broker.
type KafkaConfig struct {
	// Port is the TCP port to listen on, on 127.0.0.1; 0 picks a free one.
	Port int
	// Logger receives the broker's own logs at warn level and above; nil
	// discards them.
	Logger *slog.Logger
}

// Kafka is an in-process, single-broker Kafka-protocol cluster (kfake).
//
// It accepts CreateTopics with the usual topic configs and serves classic
// consumer groups (JoinGroup/SyncGroup/Heartbeat) as kafka-go's Reader uses
// them. Topics are not created automatically: create them with
// bus.EnsureTopics, as services do at start-up against real Kafka.
type Kafka struct {
	cluster *kfake.Cluster
	brokers []string
}

// minSessionTimeout lets tests use short consumer-group session timeouts;
// kfake's own minimum (6 s, as Kafka's) would reject them.
const minSessionTimeout = 500 * time.Millisecond

// StartKafka starts an embedded Kafka broker. The context only bounds the
// start; the broker runs until Close.
func StartKafka(ctx context.Context, cfg KafkaConfig) (*Kafka, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("devstack: start kafka: %w", err)
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.GroupMinSessionTimeout(minSessionTimeout),
	}
	if cfg.Port != 0 {
		opts = append(opts, kfake.Ports(cfg.Port))
	}
	if cfg.Logger != nil {
		opts = append(opts, kfake.WithLogger(kfakeLogger{cfg.Logger}))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("devstack: start kafka: %w", err)
	}
	return &Kafka{cluster: c, brokers: c.ListenAddrs()}, nil
}

// Brokers returns the bootstrap addresses (host:port) of the broker.
func (k *Kafka) Brokers() []string {
	return append([]string(nil), k.brokers...)
}

// Close stops the broker and drops its data. It is idempotent.
func (k *Kafka) Close() error {
	k.cluster.Close()
	return nil
}

// kfakeLogger forwards kfake's warnings and errors to slog; its info and
// debug output is per-request noise.
type kfakeLogger struct{ l *slog.Logger }

func (k kfakeLogger) Logf(level kfake.LogLevel, msg string, args ...any) {
	var lvl slog.Level
	switch level {
	case kfake.LogLevelError:
		lvl = slog.LevelError
	case kfake.LogLevelWarn:
		lvl = slog.LevelWarn
	default:
		return
	}
	k.l.Log(context.Background(), lvl, fmt.Sprintf(msg, args...), slog.String("component", "kfake"))
}
