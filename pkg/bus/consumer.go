package bus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// ErrAlreadyRun is returned by a second call to Consumer.Run.
var ErrAlreadyRun = errors.New("bus: consumer already run")

// Consumer runs a consumer-group loop that hands each message to a handler and
// commits it once handled. See the package doc for its delivery and ordering
// guarantees. Run it once; build a new Consumer to consume again.
type Consumer struct {
	cfg     ConsumerConfig
	handler Handler
	log     *slog.Logger
	tracer  trace.Tracer
	started atomic.Bool

	consumed metric.Int64Counter
	dlq      metric.Int64Counter
	duration metric.Float64Histogram
	lag      metric.Int64Gauge
}

// NewConsumer returns a Consumer that runs h wrapped with mws (the first
// outermost; usually [Reliable]). It does not connect until Run.
func NewConsumer(cfg ConsumerConfig, h Handler, mws ...Middleware) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if h == nil {
		return nil, errors.New("bus: nil handler")
	}
	cfg = cfg.withDefaults()
	m := cfg.meter()
	consumed, err := m.Int64Counter("messaging.client.consumed.messages",
		metric.WithDescription("Messages handled and committed, by outcome (strata.outcome: handled or dead_lettered)."),
		metric.WithUnit("{message}"))
	if err != nil {
		return nil, fmt.Errorf("bus: create metric: %w", err)
	}
	dlq, err := m.Int64Counter("strata.bus.dlq.messages",
		metric.WithDescription("Messages published to the dead-letter topic."),
		metric.WithUnit("{message}"))
	if err != nil {
		return nil, fmt.Errorf("bus: create metric: %w", err)
	}
	duration, err := m.Float64Histogram("messaging.process.duration",
		metric.WithDescription("Time from the start of handling a message to its commit decision, retries included."),
		metric.WithUnit("s"))
	if err != nil {
		return nil, fmt.Errorf("bus: create metric: %w", err)
	}
	lag, err := m.Int64Gauge("strata.bus.consumer.lag",
		metric.WithDescription("Messages in the partition after the last committed one, as of its fetch."),
		metric.WithUnit("{message}"))
	if err != nil {
		return nil, fmt.Errorf("bus: create metric: %w", err)
	}
	return &Consumer{
		cfg:      cfg,
		handler:  Chain(h, mws...),
		log:      cfg.logger().With(slog.String("group", cfg.GroupID)),
		tracer:   cfg.tracer(),
		consumed: consumed,
		dlq:      dlq,
		duration: duration,
		lag:      lag,
	}, nil
}

// Run joins the group and consumes until ctx is cancelled, then drains (the
// in-flight message is finished and committed), leaves the group and returns
// nil. Broker and group errors are logged and retried, not returned; Run
// returns an error only for misuse.
func (c *Consumer) Run(ctx context.Context) error {
	if c.started.Swap(true) {
		return ErrAlreadyRun
	}
	// work outlives ctx by DrainTimeout so that the in-flight handler and
	// its commit can finish after a shutdown request.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	stopDrain := context.AfterFunc(ctx, func() {
		t := time.NewTimer(c.cfg.DrainTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			cancelWork()
		case <-work.Done():
		}
	})
	defer stopDrain()

	r := kafka.NewReader(c.readerConfig())
	defer func() {
		if err := r.Close(); err != nil {
			c.log.Warn("bus: close reader", slog.Any("error", err))
		}
	}()
	c.log.Info("bus: consumer started", slog.Any("topics", c.cfg.Topics))
	defer c.log.Info("bus: consumer stopped")

	for failures := 0; ; {
		km, err := r.FetchMessage(ctx)
		switch {
		case ctx.Err() != nil, errors.Is(err, io.EOF):
			return nil
		case err != nil:
			// kafka-go heals from broker and group errors by itself;
			// pause so a persistent one does not spin.
			failures++
			c.log.Warn("bus: fetch", slog.Any("error", err))
			if !sleep(ctx, backoff(failures, 100*time.Millisecond, c.cfg.RedeliveryBackoff)) {
				return nil
			}
			continue
		}
		failures = 0
		if !c.process(ctx, work, r, km) {
			return nil
		}
	}
}

// invoke runs the handler chain. A panic that escaped it (no [Recover] in
// the chain) is logged and returned as an error, so the message is run again
// rather than the process crashing.
func (c *Consumer) invoke(ctx context.Context, msg Message) (err error) {
	defer func() {
		if r := recover(); r != nil {
			c.log.ErrorContext(ctx, "bus: handler chain panicked", slog.String("topic", msg.Topic),
				slog.Int("partition", msg.Partition), slog.Int64("offset", msg.Offset),
				slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
			err = fmt.Errorf("%w: %v", ErrPanic, r)
		}
	}()
	return c.handler(ctx, msg)
}

func (c *Consumer) readerConfig() kafka.ReaderConfig {
	cfg := kafka.ReaderConfig{
		Brokers:     c.cfg.Brokers,
		GroupID:     c.cfg.GroupID,
		GroupTopics: c.cfg.Topics,
		Dialer: &kafka.Dialer{
			ClientID:  c.cfg.clientID(),
			Timeout:   10 * time.Second,
			DualStack: true,
		},
		MinBytes: 1,
		MaxBytes: 10 << 20,
		// kafka-go sets the connection's read deadline to MaxWait but, for
		// MaxWait >= 1s, asks the broker to hold the fetch for MaxWait-1s
		// (it reserves 1s for the round trip); below 1s it reserves only a
		// quarter, and a busy machine then hits i/o timeouts and
		// reconnects. Adding 1s keeps the broker-side wait at cfg.MaxWait
		// with a full second of slack.
		MaxWait: c.cfg.MaxWait + time.Second,
		// Range keeps partition i of every consumed topic on the same
		// member, which co-partitioned joins rely on.
		GroupBalancers:    []kafka.GroupBalancer{kafka.RangeGroupBalancer{}, kafka.RoundRobinGroupBalancer{}},
		HeartbeatInterval: c.cfg.HeartbeatInterval,
		SessionTimeout:    c.cfg.SessionTimeout,
		RebalanceTimeout:  c.cfg.RebalanceTimeout,
		JoinGroupBackoff:  c.cfg.JoinGroupBackoff,
		// Synchronous commits: CommitMessages returns once the broker
		// stored the offset, which the at-least-once contract needs.
		CommitInterval: 0,
		// kafka-go asks the broker to keep offsets for 24h by default;
		// keep them as long as Kafka's own default (7 days) so a group
		// stopped over a weekend does not replay from the start.
		RetentionTime:          7 * 24 * time.Hour,
		StartOffset:            kafka.FirstOffset,
		WatchPartitionChanges:  true,
		PartitionWatchInterval: 10 * time.Second,
		ReadBackoffMin:         50 * time.Millisecond,
		ReadBackoffMax:         500 * time.Millisecond,
		Logger: kafka.LoggerFunc(func(msg string, args ...any) {
			c.log.Debug(fmt.Sprintf(msg, args...), slog.String("component", "kafka-go"))
		}),
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			c.log.Warn(fmt.Sprintf(msg, args...), slog.String("component", "kafka-go"))
		}),
	}
	return cfg
}

// process handles km until the chain succeeds, then commits it. It reports
// false when the consumer must stop (draining, or the drain deadline hit);
// the message is then left uncommitted unless it was handled.
func (c *Consumer) process(ctx, work context.Context, r *kafka.Reader, km kafka.Message) bool {
	msg := fromKafka(km)
	parent := c.cfg.propagator().Extract(work, headerCarrier{&km.Headers})
	sctx, span := c.tracer.Start(parent, "process "+km.Topic,
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			semconv.MessagingSystemKafka,
			semconv.MessagingOperationTypeProcess,
			semconv.MessagingOperationName("process"),
			semconv.MessagingDestinationName(km.Topic),
			semconv.MessagingDestinationPartitionID(strconv.Itoa(km.Partition)),
			semconv.MessagingKafkaOffset(int(km.Offset)),
			semconv.MessagingConsumerGroupName(c.cfg.GroupID),
			semconv.MessagingClientID(c.cfg.clientID()),
			semconv.MessagingMessageBodySize(len(km.Value)),
		))
	defer span.End()

	attrs := []attribute.KeyValue{
		semconv.MessagingSystemKafka,
		semconv.MessagingDestinationName(km.Topic),
		semconv.MessagingConsumerGroupName(c.cfg.GroupID),
	}
	start := time.Now()
	d := &delivery{group: c.cfg.GroupID, stopping: ctx.Done()}
	hctx := withDelivery(sctx, d)
	for attempt := 1; ; attempt++ {
		d.deadLettered = nil
		err := c.invoke(hctx, msg)
		if err == nil {
			break
		}
		if ctx.Err() != nil || work.Err() != nil {
			span.SetStatus(codes.Error, "consumer stopped before the message was handled")
			span.RecordError(err)
			return false
		}
		// Only reachable without DeadLetter, or when the dead-letter
		// write failed: never skip the message, run the chain again.
		span.AddEvent("redeliver", trace.WithAttributes(attribute.Int("attempt", attempt)))
		c.log.Error("bus: handler failed, redelivering", slog.String("topic", km.Topic),
			slog.Int("partition", km.Partition), slog.Int64("offset", km.Offset),
			slog.Int("attempt", attempt), slog.Any("error", err))
		if !sleep(ctx, backoff(attempt, 100*time.Millisecond, c.cfg.RedeliveryBackoff)) {
			span.SetStatus(codes.Error, "consumer stopped before the message was handled")
			return false
		}
	}
	outcome := "handled"
	if d.deadLettered != nil {
		outcome = "dead_lettered"
		span.SetStatus(codes.Error, "dead-lettered")
		span.RecordError(d.deadLettered)
		c.dlq.Add(work, 1, metric.WithAttributes(attrs...))
		c.log.Warn("bus: message dead-lettered", slog.String("topic", km.Topic),
			slog.Int("partition", km.Partition), slog.Int64("offset", km.Offset),
			slog.String("kind", errorKind(d.deadLettered)), slog.Any("error", d.deadLettered))
	}
	c.duration.Record(work, time.Since(start).Seconds(), metric.WithAttributes(attrs...))

	for attempt := 1; ; attempt++ {
		err := r.CommitMessages(work, km)
		if err == nil {
			break
		}
		if work.Err() != nil || errors.Is(err, io.ErrClosedPipe) {
			span.RecordError(err)
			return false
		}
		c.log.Warn("bus: commit failed, retrying", slog.String("topic", km.Topic),
			slog.Int("partition", km.Partition), slog.Int64("offset", km.Offset), slog.Any("error", err))
		if !sleep(work, backoff(attempt, 100*time.Millisecond, c.cfg.RedeliveryBackoff)) {
			return false
		}
	}
	c.consumed.Add(work, 1, metric.WithAttributes(append(attrs, attribute.String("strata.outcome", outcome))...))
	if km.HighWaterMark > 0 {
		c.lag.Record(work, max(km.HighWaterMark-km.Offset-1, 0), metric.WithAttributes(append(attrs,
			semconv.MessagingDestinationPartitionID(strconv.Itoa(km.Partition)))...))
	}
	return ctx.Err() == nil
}
