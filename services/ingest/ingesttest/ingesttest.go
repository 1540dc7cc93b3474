// Package ingesttest runs the ingest service for tests and reads what it published: Start
// runs ingest.Run on free loopback ports until the test ends, Tail reads a topic from the
// offsets it had when the Tail was made, so tests against shared real Kafka see only
// their own records. Every helper registers its cleanup with t.Cleanup.
package ingesttest

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/bustest"
	"github.com/stratahq/strata/pkg/cache"
	"github.com/stratahq/strata/pkg/devstack"
	"github.com/stratahq/strata/pkg/server/servertest"
	"github.com/stratahq/strata/pkg/topics"
	"github.com/stratahq/strata/services/ingest"
)

// WriteKey is the write key Start configures, for source Source.
const (
	WriteKey = "test-write-key"
	Source   = "test"
)

// Stack is where Kafka and Redis answer.
type Stack struct {
	Brokers   []string
	RedisAddr string
}

// Embedded starts an embedded Kafka broker (with the suite's topics) and an embedded
// Redis for the test.
func Embedded(t testing.TB) Stack {
	t.Helper()
	brokers := bustest.Brokers(t)
	r, err := devstack.StartRedis()
	if err != nil {
		t.Fatalf("ingesttest: start redis: %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	ensureTopics(t, brokers)
	return Stack{Brokers: brokers, RedisAddr: r.Addr()}
}

// Real returns the real Kafka and Redis named by STRATA_KAFKA_BROKERS and
// STRATA_REDIS_ADDR, failing the test when either is missing.
func Real(t testing.TB) Stack {
	t.Helper()
	brokers := bus.ParseBrokers(os.Getenv(bus.EnvBrokers))
	redis := strings.TrimSpace(os.Getenv("STRATA_REDIS_ADDR"))
	if len(brokers) == 0 || redis == "" {
		t.Fatalf("STRATA_KAFKA_BROKERS and STRATA_REDIS_ADDR must be set: eval \"$(scripts/infra env)\"")
	}
	ensureTopics(t, brokers)
	return Stack{Brokers: brokers, RedisAddr: redis}
}

func ensureTopics(t testing.TB, brokers []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := bus.EnsureTopics(ctx, bus.Config{Brokers: brokers, Logger: bustest.Logger(t)}, topics.All()...); err != nil {
		t.Fatalf("ingesttest: ensure topics: %v", err)
	}
}

// Instance is a running ingest service.
type Instance struct {
	// HTTP and GRPC are the bound addresses (host:port).
	HTTP, GRPC string
}

// URL returns the HTTP base URL.
func (i *Instance) URL() string { return "http://" + i.HTTP }

// Start runs ingest against s until the test ends; edit may change the configuration
// (nil keeps it). It returns once the service reports ready.
func Start(t testing.TB, s Stack, edit func(*ingest.Config)) *Instance {
	t.Helper()
	cfg := ingest.DefaultConfig()
	cfg.Server = servertest.Loopback(t, 10*time.Second)
	cfg.Kafka = bus.Config{Brokers: s.Brokers}
	cfg.Redis = cache.Config{Addrs: []string{s.RedisAddr}}
	cfg.WriteKeys = map[string]string{WriteKey: Source}
	cfg.Consumer = bustest.ConsumerTuning(bus.ConsumerConfig{})
	cfg.Logger = bustest.Logger(t)
	if edit != nil {
		edit(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ingest.Run(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("ingest stopped with error: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("ingest did not stop within 30s")
		}
	})
	inst := &Instance{HTTP: cfg.Server.HTTPListener.Addr().String(), GRPC: cfg.Server.GRPCListener.Addr().String()}
	deadline := time.Now().Add(time.Minute)
	for {
		select {
		case err := <-done:
			t.Fatalf("ingest stopped before it was ready: %v", err)
		default:
		}
		resp, err := http.Get(inst.URL() + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return inst
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("ingest not ready within a minute")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Tail reads one topic from the end offsets it had when the Tail was made.
type Tail struct {
	mu   sync.Mutex
	msgs []bus.Message
}

// NewTail starts reading topic in the background until the test ends.
func NewTail(t testing.TB, brokers []string, topic string) *Tail {
	t.Helper()
	offsets := EndOffsets(t, brokers, topic)
	ctx, cancel := context.WithCancel(context.Background())
	tail := &Tail{}
	var wg sync.WaitGroup
	for _, po := range offsets {
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers: brokers, Topic: topic, Partition: po.Partition,
			MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 100 * time.Millisecond,
		})
		if err := r.SetOffset(po.LastOffset); err != nil {
			cancel()
			t.Fatalf("ingesttest: set offset: %v", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.Close()
			for {
				km, err := r.ReadMessage(ctx)
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					continue
				}
				m := bus.Message{Topic: km.Topic, Key: km.Key, Value: km.Value, Partition: km.Partition, Offset: km.Offset, Time: km.Time}
				for _, h := range km.Headers {
					m.Headers = append(m.Headers, bus.Header{Key: h.Key, Value: h.Value})
				}
				tail.mu.Lock()
				tail.msgs = append(tail.msgs, m)
				tail.mu.Unlock()
			}
		}()
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return tail
}

// EndOffsets returns the end offset of every partition of topic.
func EndOffsets(t testing.TB, brokers []string, topic string) []kafka.PartitionOffsets {
	t.Helper()
	client := bustest.Client(t, brokers)
	ctx := context.Background()
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil || len(md.Topics) != 1 || md.Topics[0].Error != nil {
		t.Fatalf("ingesttest: metadata of %s: %v", topic, err)
	}
	req := map[string][]kafka.OffsetRequest{}
	for _, p := range md.Topics[0].Partitions {
		req[topic] = append(req[topic], kafka.LastOffsetOf(p.ID))
	}
	offs, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: req})
	if err != nil {
		t.Fatalf("ingesttest: list offsets of %s: %v", topic, err)
	}
	for _, po := range offs.Topics[topic] {
		if po.Error != nil {
			t.Fatalf("ingesttest: offsets of %s/%d: %v", topic, po.Partition, po.Error)
		}
	}
	return offs.Topics[topic]
}

// Messages returns what was read so far.
func (tl *Tail) Messages() []bus.Message {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return append([]bus.Message(nil), tl.msgs...)
}

// WaitFor polls until cond holds for the messages read so far, or fails the test after
// timeout; it returns the messages cond accepted.
func (tl *Tail) WaitFor(t testing.TB, timeout time.Duration, what string, cond func([]bus.Message) bool) []bus.Message {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msgs := tl.Messages()
		if cond(msgs) {
			return msgs
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s (%d messages read)", timeout, what, len(msgs))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
