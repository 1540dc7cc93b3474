package bus_test

import (
	"context"
	"errors"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/bustest"
)

func TestPublishRejectsMissingTopic(t *testing.T) {
	t.Parallel()
	p, err := bus.NewProducer(bus.ProducerConfig{Config: bus.Config{Brokers: []string{"127.0.0.1:1"}}})
	if err != nil {
		t.Fatalf("NewProducer: %v", err)
	}
	defer p.Close()
	if err := p.Publish(t.Context(), bus.Message{Value: []byte("x")}); !errors.Is(err, bus.ErrMissingTopic) {
		t.Errorf("got %v, want ErrMissingTopic", err)
	}
	if err := p.Publish(t.Context()); err != nil {
		t.Errorf("Publish(no messages): got %v, want nil", err)
	}
}

func TestPublishUnknownTopicFails(t *testing.T) {
	t.Parallel()
	// Topics are created by EnsureTopics only; a typo must not create one.
	p := bustest.Producer(t, bustest.Brokers(t), bus.ProducerConfig{})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if err := p.Publish(ctx, bus.Message{Topic: "strata.nope.v1", Value: []byte("x")}); err == nil {
		t.Errorf("Publish to a missing topic: got nil, want an error")
	} else {
		t.Logf("Publish to a missing topic: %v", err)
	}
}

func TestNewConsumerRejects(t *testing.T) {
	t.Parallel()
	cfg := bus.ConsumerConfig{Config: bus.Config{Brokers: []string{"127.0.0.1:1"}}, GroupID: "g", Topics: []string{"t"}}
	if _, err := bus.NewConsumer(cfg, nil); err == nil {
		t.Errorf("NewConsumer(nil handler): got nil error, want one")
	}
	if _, err := bus.NewConsumer(bus.ConsumerConfig{}, func(context.Context, bus.Message) error { return nil }); !errors.Is(err, bus.ErrMissingBrokers) {
		t.Errorf("NewConsumer(empty config): got %v, want ErrMissingBrokers", err)
	}
}

// TestConsumerMetrics checks the counters a dashboard relies on: one handled
// and one dead-lettered message.
func TestConsumerMetrics(t *testing.T) {
	t.Parallel()
	brokers := bustest.Brokers(t)
	topic := bustest.Topic(t, brokers, 1)
	dlq := bustest.Topic(t, brokers, 1)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	p := bustest.Producer(t, brokers, bus.ProducerConfig{Config: bus.Config{MeterProvider: mp}})
	if err := p.Publish(t.Context(),
		bus.Message{Topic: topic, Value: []byte("ok")},
		bus.Message{Topic: topic, Value: []byte("bad")},
	); err != nil {
		t.Fatalf("Publish: %v", err)
	}

	cfg := bustest.ConsumerTuning(bus.ConsumerConfig{
		Config:  bus.Config{Brokers: brokers, MeterProvider: mp, Logger: bustest.Logger(t)},
		GroupID: bustest.Group(t),
		Topics:  []string{topic},
	})
	done := make(chan struct{})
	c, err := bus.NewConsumer(cfg, func(_ context.Context, m bus.Message) error {
		if string(m.Value) == "bad" {
			defer close(done)
			return bus.Permanent(errors.New("bad payload"))
		}
		return nil
	}, bus.DeadLetter(p, dlq))
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	runErr := make(chan error, 1)
	go func() { runErr <- c.Run(ctx) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("messages not handled")
	}
	cancel() // the in-flight message is committed and counted before Run returns
	if err := <-runErr; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := c.Run(t.Context()); !errors.Is(err, bus.ErrAlreadyRun) {
		t.Errorf("second Run: got %v, want ErrAlreadyRun", err)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatalf("Collect: %v", err)
	}
	sums := map[string]int64{}
	outcomes := map[string]int64{}
	var histCount uint64
	lag := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					sums[m.Name] += dp.Value
					if v, ok := dp.Attributes.Value("strata.outcome"); ok {
						outcomes[v.AsString()] += dp.Value
					}
				}
			case metricdata.Gauge[int64]:
				for _, dp := range d.DataPoints {
					lag[m.Name] = dp.Value
				}
			case metricdata.Histogram[float64]:
				for _, dp := range d.DataPoints {
					histCount += dp.Count
				}
			}
		}
	}
	want := map[string]int64{
		"messaging.client.consumed.messages": 2,
		"strata.bus.dlq.messages":            1,
		"messaging.client.sent.messages":     3, // two published, one dead letter
	}
	for name, w := range want {
		if got := sums[name]; got != w {
			t.Errorf("%s: got %d, want %d", name, got, w)
		}
	}
	if outcomes["handled"] != 1 || outcomes["dead_lettered"] != 1 {
		t.Errorf("outcomes: got %v, want handled=1 dead_lettered=1", outcomes)
	}
	if got, ok := lag["strata.bus.consumer.lag"]; !ok || got != 0 {
		t.Errorf("strata.bus.consumer.lag: got %d (recorded %v), want 0 after the last message", got, ok)
	}
	if histCount != 2 {
		t.Errorf("messaging.process.duration: got %d observations, want 2", histCount)
	}
}
