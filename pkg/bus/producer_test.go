package bus_test

import (
	"context"
	"errors"
	"sync"
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
	if _, err := bus.NewBatchConsumer(cfg, nil); err == nil {
		t.Errorf("NewBatchConsumer(nil handler): got nil error, want one")
	}
	if _, err := bus.NewBatchConsumer(bus.ConsumerConfig{}, func(context.Context, []bus.Message) error { return nil }); !errors.Is(err, bus.ErrMissingBrokers) {
		t.Errorf("NewBatchConsumer(empty config): got %v, want ErrMissingBrokers", err)
	}
}

// TestConsumerMetrics checks the counters a dashboard relies on: one handled
// and one dead-lettered message, with a Handler and with a BatchHandler (whose
// failed batch is run again message by message).
func TestConsumerMetrics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// observations of messaging.process.duration: per message, plus
		// per batch in batch mode (the failed batch, or the ok message's
		// batch and the bad one's).
		histCount uint64
		batch     bool
	}{
		{name: "handler", histCount: 2},
		{name: "batch handler", histCount: 3, batch: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			testConsumerMetrics(t, tt.batch, tt.histCount)
		})
	}
}

func testConsumerMetrics(t *testing.T, batch bool, wantHist uint64) {
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
	var once sync.Once
	h := func(_ context.Context, m bus.Message) error {
		if string(m.Value) == "bad" {
			return bus.Permanent(errors.New("bad payload"))
		}
		return nil
	}
	// done closes once the dead letter was written: the bad message is then in flight
	// and its commit counts it before Run returns.
	dl := bus.DeadLetter(p, dlq)
	mark := func(next bus.Handler) bus.Handler {
		return dl(func(ctx context.Context, m bus.Message) error {
			err := next(ctx, m)
			if err != nil {
				defer once.Do(func() { close(done) })
			}
			return err
		})
	}
	var c *bus.Consumer
	var err error
	if batch {
		c, err = bus.NewBatchConsumer(cfg, func(ctx context.Context, msgs []bus.Message) error {
			for _, m := range msgs {
				if err := h(ctx, m); err != nil {
					return err
				}
			}
			return nil
		}, mark)
	} else {
		c, err = bus.NewConsumer(cfg, h, mark)
	}
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
	if histCount != wantHist {
		t.Errorf("messaging.process.duration: got %d observations, want %d", histCount, wantHist)
	}
}
