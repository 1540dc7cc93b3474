// Package bustest helps test code that uses package bus: it starts an
// embedded Kafka broker per test, creates uniquely named topics and groups,
// and holds the contract suite every bus adapter must pass
// ([RunConsumerContract]), run against the embedded broker and against real
// Kafka.
//
// Every helper registers its cleanup with t.Cleanup. Helpers are safe to use
// from parallel tests: each test gets its own names (and, with [Brokers], its
// own broker).
package bustest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/devstack"
	"github.com/stratahq/strata/pkg/topics"
)

// Brokers starts an embedded Kafka broker for the test and returns its
// bootstrap addresses; the broker stops when the test ends.
func Brokers(t testing.TB) []string {
	t.Helper()
	k, err := devstack.StartKafka(context.Background(), devstack.KafkaConfig{Logger: Logger(t)})
	if err != nil {
		t.Fatalf("bustest: start embedded kafka: %v", err)
	}
	t.Cleanup(func() {
		if err := k.Close(); err != nil {
			t.Errorf("bustest: close embedded kafka: %v", err)
		}
	})
	return k.Brokers()
}

// Name returns a name unique to this call, built from prefix and the test's
// name, valid as a Kafka topic or group name.
func Name(t testing.TB, prefix string) string {
	t.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("bustest: random name: %v", err)
	}
	clean := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-':
			return r
		}
		return '-'
	}, t.Name())
	if len(clean) > 120 {
		clean = clean[len(clean)-120:]
	}
	return prefix + "." + clean + "." + hex.EncodeToString(b[:])
}

// Topic creates a topic with a unique name and the given partition count and
// returns its name. Test topics are not deleted: real Kafka keeps them until
// their retention (1 hour) passes, the embedded broker drops them with the
// broker.
func Topic(t testing.TB, brokers []string, partitions int) string {
	t.Helper()
	name := Name(t, "strata.test")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	spec := topics.Spec{Name: name, Partitions: partitions, Retention: time.Hour, CleanupPolicy: topics.Delete}
	if err := bus.EnsureTopics(ctx, bus.Config{Brokers: brokers, Logger: Logger(t)}, spec); err != nil {
		t.Fatalf("bustest: create topic %s: %v", name, err)
	}
	return name
}

// Group returns a unique consumer group name.
func Group(t testing.TB) string {
	t.Helper()
	return Name(t, "strata-test")
}

// Producer returns a producer for brokers, closed when the test ends. cfg's
// Brokers are set to brokers.
func Producer(t testing.TB, brokers []string, cfg bus.ProducerConfig) *bus.Producer {
	t.Helper()
	cfg.Brokers = brokers
	if cfg.Logger == nil {
		cfg.Logger = Logger(t)
	}
	p, err := bus.NewProducer(cfg)
	if err != nil {
		t.Fatalf("bustest: new producer: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("bustest: close producer: %v", err)
		}
	})
	return p
}

// ConsumerTuning returns consumer settings that keep group joins and
// shutdowns fast in tests while staying within real Kafka's default bounds
// (group.min.session.timeout.ms = 6s).
func ConsumerTuning(cfg bus.ConsumerConfig) bus.ConsumerConfig {
	cfg.MaxWait = 100 * time.Millisecond
	cfg.HeartbeatInterval = 500 * time.Millisecond
	cfg.SessionTimeout = 6 * time.Second
	cfg.RebalanceTimeout = 5 * time.Second
	cfg.JoinGroupBackoff = 200 * time.Millisecond
	cfg.RedeliveryBackoff = 50 * time.Millisecond
	cfg.DrainTimeout = 5 * time.Second
	return cfg
}

// Logger returns a logger writing warnings and errors to the test log until
// the test ends (later lines, from goroutines still winding down, are
// dropped).
func Logger(t testing.TB) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(w.stop)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

var _ io.Writer = (*testWriter)(nil)

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testWriter) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = true
}

// Client returns a kafka-go admin client for brokers with a transport of its
// own, closed when the test ends. kafka-go answers Metadata requests from its
// transport's cache (refreshed every 6s), so a client sharing
// kafka.DefaultTransport can miss topics another client just created.
func Client(t testing.TB, brokers []string) *kafka.Client {
	t.Helper()
	tr := &kafka.Transport{ClientID: "bustest"}
	t.Cleanup(tr.CloseIdleConnections)
	return &kafka.Client{Addr: kafka.TCP(brokers...), Transport: tr, Timeout: 30 * time.Second}
}
