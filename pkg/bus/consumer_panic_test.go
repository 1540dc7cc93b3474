package bus_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/bustest"
)

// TestConsumerSurvivesPanicWithoutRecover checks the last line of defence: a
// chain without Recover that panics does not crash the process; the message
// is run again until it succeeds.
func TestConsumerSurvivesPanicWithoutRecover(t *testing.T) {
	t.Parallel()
	brokers := bustest.Brokers(t)
	topic := bustest.Topic(t, brokers, 1)
	p := bustest.Producer(t, brokers, bus.ProducerConfig{})
	if err := p.Publish(t.Context(), bus.Message{Topic: topic, Value: []byte("x")}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	var calls atomic.Int32
	done := make(chan struct{})
	cfg := bustest.ConsumerTuning(bus.ConsumerConfig{
		Config:  bus.Config{Brokers: brokers, Logger: bustest.Logger(t)},
		GroupID: bustest.Group(t), Topics: []string{topic},
	})
	c, err := bus.NewConsumer(cfg, func(context.Context, bus.Message) error {
		if calls.Add(1) == 1 {
			panic("first run fails")
		}
		close(done)
		return nil
	})
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	runErr := make(chan error, 1)
	go func() { runErr <- c.Run(ctx) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("message not handled after the panic")
	}
	cancel()
	if err := <-runErr; err != nil {
		t.Errorf("Run: got %v, want nil", err)
	}
	if got := calls.Load(); got != 2 {
		t.Errorf("got %d handler runs, want 2", got)
	}
}
