package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/topics"
)

// KafkaConfig configures the Kafka sink.
type KafkaConfig struct {
	// Brokers are the bootstrap brokers, host:port.
	Brokers []string
	// Concurrency is the number of writes in flight; default 2.
	Concurrency int
	// BatchSize is the most messages per write; default 500.
	BatchSize int
	// Linger is how long a partial batch waits for more messages; default 50ms.
	Linger time.Duration
	Logger *slog.Logger
}

// Kafka publishes messages as Segment JSON to strata.events.raw.v1, keyed by user id,
// and items as protobuf CatalogItems to strata.catalog.v1, keyed by item id: what an
// upstream system publishing to Strata does. Publish waits for acks=all.
type Kafka struct {
	prod *bus.Producer
	cnt  counters
	b    *batcher[bus.Message]
}

// NewKafka creates the two topics if they are missing and returns the sink.
func NewKafka(ctx context.Context, cfg KafkaConfig) (*Kafka, error) {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 2
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 500
	}
	bc := bus.Config{Brokers: cfg.Brokers, ClientID: "strata-cli", Logger: cfg.Logger}
	var specs []topics.Spec
	for _, name := range []string{topics.EventsRaw, topics.Catalog} {
		if s, ok := topics.Lookup(name); ok {
			specs = append(specs, s)
		}
	}
	if err := bus.EnsureTopics(ctx, bc, specs...); err != nil {
		return nil, fmt.Errorf("sink: kafka topics: %w", err)
	}
	prod, err := bus.NewProducer(bus.ProducerConfig{Config: bc})
	if err != nil {
		return nil, fmt.Errorf("sink: kafka producer: %w", err)
	}
	k := &Kafka{prod: prod}
	k.b = newBatcher(batching{
		workers:  cfg.Concurrency,
		maxItems: cfg.BatchSize,
		maxBytes: 4 << 20,
		linger:   cfg.Linger,
	}, &k.cnt, encodeRaw, k.publish)
	return k, nil
}

func encodeRaw(m *Message) (bus.Message, int, error) {
	raw, err := encodeJSON(m)
	if err != nil {
		return bus.Message{}, 0, fmt.Errorf("sink: encode message %s: %w", m.MessageID, err)
	}
	return bus.Message{
		Topic:   topics.EventsRaw,
		Key:     []byte(m.Key()),
		Value:   raw,
		Headers: []bus.Header{{Key: "content-type", Value: []byte("application/json")}},
	}, len(raw), nil
}

// Kafka errors (leader moves, timeouts) are transient; the producer does not retry a
// failed write itself, so every error is retried here.
func (k *Kafka) publish(ctx context.Context, msgs []bus.Message) error {
	return defaultRetry.do(ctx, &k.cnt, func(ctx context.Context) error {
		if err := k.prod.Publish(ctx, msgs...); err != nil {
			if ctx.Err() != nil {
				return err
			}
			return &errRetryable{err: err}
		}
		return nil
	})
}

// Send implements Sink.
func (k *Kafka) Send(ctx context.Context, m Message) error { return k.b.send(ctx, m) }

// Stats implements Sink.
func (k *Kafka) Stats() Stats { return k.cnt.stats() }

// SendItems implements Sink.
func (k *Kafka) SendItems(ctx context.Context, items []Item) error {
	for chunk := range slices.Chunk(items, 500) {
		msgs := make([]bus.Message, len(chunk))
		for i := range chunk {
			value, err := proto.Marshal(chunk[i].Proto())
			if err != nil {
				return fmt.Errorf("sink: encode item %s: %w", chunk[i].ItemID, err)
			}
			msgs[i] = bus.Message{Topic: topics.Catalog, Key: []byte(chunk[i].ItemID), Value: value}
		}
		if err := k.publish(ctx, msgs); err != nil {
			return fmt.Errorf("sink: publish items: %w", err)
		}
		k.cnt.items.Add(int64(len(chunk)))
	}
	return nil
}

// Close implements Sink; it also closes the producer.
func (k *Kafka) Close(ctx context.Context) error {
	err := k.b.close(ctx)
	return errors.Join(err, k.prod.Close())
}
