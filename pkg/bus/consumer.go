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
	handler Handler      // the per-message chain
	batch   BatchHandler // nil for a per-message consumer
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
	if h == nil {
		return nil, errors.New("bus: nil handler")
	}
	return newConsumer(cfg.withDefaults(1, 0), h, nil, mws)
}

// NewBatchConsumer returns a Consumer that hands bh batches of up to
// cfg.BatchSize messages (default 500) fetched within cfg.BatchWait (default
// 5ms) and commits each batch once bh returned nil. When bh fails or panics,
// the consumer runs the batch's messages again one at a time, in order, each
// as a batch of one wrapped with mws (usually [Reliable]), so that retries,
// dead-lettering and recovery apply per message: a poison message is
// dead-lettered and the rest of the batch is handled. See the package doc.
// It does not connect until Run.
func NewBatchConsumer(cfg ConsumerConfig, bh BatchHandler, mws ...Middleware) (*Consumer, error) {
	if bh == nil {
		return nil, errors.New("bus: nil handler")
	}
	one := func(ctx context.Context, msg Message) error { return bh(ctx, []Message{msg}) }
	return newConsumer(cfg.withDefaults(defaultBatchSize, defaultBatchWait), one, bh, mws)
}

func newConsumer(cfg ConsumerConfig, h Handler, bh BatchHandler, mws []Middleware) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
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
		batch:    bh,
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

	buf := make([]kafka.Message, 0, c.cfg.BatchSize)
	for failures := 0; ; {
		kms, err := c.fetch(ctx, r, buf[:0])
		switch {
		case ctx.Err() != nil && len(kms) == 0, errors.Is(err, io.EOF):
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
		if !c.processBatch(ctx, work, r, kms) {
			return nil
		}
	}
}

// fetch waits for one message, then adds those that arrive within BatchWait,
// up to BatchSize. An error after the first message ends the batch early and
// is not returned: the messages in hand are handled first.
func (c *Consumer) fetch(ctx context.Context, r *kafka.Reader, kms []kafka.Message) ([]kafka.Message, error) {
	km, err := r.FetchMessage(ctx)
	if err != nil {
		return kms, err
	}
	kms = append(kms, km)
	if c.cfg.BatchSize <= 1 {
		return kms, nil
	}
	wctx, cancel := context.WithTimeout(ctx, c.cfg.BatchWait)
	defer cancel()
	for len(kms) < c.cfg.BatchSize {
		km, err := r.FetchMessage(wctx)
		if err != nil {
			if wctx.Err() == nil {
				c.log.Warn("bus: fetch", slog.Any("error", err))
			}
			break
		}
		kms = append(kms, km)
	}
	return kms, nil
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
		// The prefetch queue holds at least a batch.
		QueueCapacity: max(100, c.cfg.BatchSize),
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

// processBatch handles kms (with the batch handler, else one message at a
// time) and commits what was handled. It reports false when the consumer must
// stop (draining, or the drain deadline hit); messages not handled by then
// are left uncommitted.
func (c *Consumer) processBatch(ctx, work context.Context, r *kafka.Reader, kms []kafka.Message) bool {
	if c.batch != nil && c.runBatch(ctx, work, kms) {
		return c.commit(work, r, kms, 0) && ctx.Err() == nil
	}
	if work.Err() != nil {
		return false
	}
	dead := 0
	for i, km := range kms {
		ok, deadLettered := c.process(ctx, work, km)
		if !ok {
			c.commit(work, r, kms[:i], dead)
			return false
		}
		if deadLettered {
			dead++
		}
		if ctx.Err() != nil {
			// Draining: the in-flight message is finished, the rest of
			// the batch is left for redelivery.
			c.commit(work, r, kms[:i+1], dead)
			return false
		}
	}
	return c.commit(work, r, kms, dead) && ctx.Err() == nil
}

// runBatch runs the batch handler once over kms under one span, and reports
// whether it succeeded. The span continues the trace of the batch's first traced
// message (so a lone event keeps one trace from its HTTP request to its effects) and
// links to the producer spans of the others. A failure
// (error or panic) is logged; the caller then runs the messages one by one.
func (c *Consumer) runBatch(ctx, work context.Context, kms []kafka.Message) bool {
	msgs := make([]Message, len(kms))
	links := make([]trace.Link, 0, min(len(kms), maxBatchLinks))
	prop := c.cfg.propagator()
	topic := kms[0].Topic
	parent := work
	for i := range kms {
		msgs[i] = fromKafka(kms[i])
		if kms[i].Topic != topic {
			topic = "multiple"
		}
		if len(links) < maxBatchLinks {
			sc := trace.SpanContextFromContext(prop.Extract(context.Background(), headerCarrier{&kms[i].Headers}))
			switch {
			case !sc.IsValid():
			case parent == work:
				parent = trace.ContextWithRemoteSpanContext(work, sc)
			default:
				links = append(links, trace.Link{SpanContext: sc})
			}
		}
	}
	sctx, span := c.tracer.Start(parent, "process "+topic,
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithLinks(links...),
		trace.WithAttributes(
			semconv.MessagingSystemKafka,
			semconv.MessagingOperationTypeProcess,
			semconv.MessagingOperationName("process"),
			semconv.MessagingDestinationName(topic),
			semconv.MessagingBatchMessageCount(len(kms)),
			semconv.MessagingConsumerGroupName(c.cfg.GroupID),
			semconv.MessagingClientID(c.cfg.clientID()),
		))
	defer span.End()
	start := time.Now()
	err := c.invokeBatch(withDelivery(sctx, &delivery{group: c.cfg.GroupID, stopping: ctx.Done()}), msgs)
	c.duration.Record(work, time.Since(start).Seconds(), metric.WithAttributes(
		semconv.MessagingSystemKafka, semconv.MessagingDestinationName(topic), semconv.MessagingConsumerGroupName(c.cfg.GroupID)))
	if err == nil {
		return true
	}
	span.SetStatus(codes.Error, "batch failed")
	span.RecordError(err)
	if work.Err() == nil {
		c.log.Warn("bus: batch failed, handling its messages one at a time", slog.String("topic", topic),
			slog.Int("messages", len(kms)), slog.Any("error", err))
	}
	return false
}

// maxBatchLinks bounds the links of a batch span (the OpenTelemetry SDK's
// default link limit).
const maxBatchLinks = 128

// invokeBatch runs the batch handler, turning a panic into an error.
func (c *Consumer) invokeBatch(ctx context.Context, msgs []Message) (err error) {
	defer func() {
		if r := recover(); r != nil {
			c.log.ErrorContext(ctx, "bus: batch handler panicked", slog.Int("messages", len(msgs)),
				slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
			err = fmt.Errorf("%w: %v", ErrPanic, r)
		}
	}()
	return c.batch(ctx, msgs)
}

// process handles km until the chain succeeds. It reports whether the
// message was handled (false when the consumer must stop first) and whether
// it was dead-lettered.
func (c *Consumer) process(ctx, work context.Context, km kafka.Message) (handled, deadLettered bool) {
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
			return false, false
		}
		// Only reachable without DeadLetter, or when the dead-letter
		// write failed: never skip the message, run the chain again.
		span.AddEvent("redeliver", trace.WithAttributes(attribute.Int("attempt", attempt)))
		c.log.Error("bus: handler failed, redelivering", slog.String("topic", km.Topic),
			slog.Int("partition", km.Partition), slog.Int64("offset", km.Offset),
			slog.Int("attempt", attempt), slog.Any("error", err))
		if !sleep(ctx, backoff(attempt, 100*time.Millisecond, c.cfg.RedeliveryBackoff)) {
			span.SetStatus(codes.Error, "consumer stopped before the message was handled")
			return false, false
		}
	}
	if d.deadLettered != nil {
		span.SetStatus(codes.Error, "dead-lettered")
		span.RecordError(d.deadLettered)
		c.dlq.Add(work, 1, metric.WithAttributes(attrs...))
		c.log.Warn("bus: message dead-lettered", slog.String("topic", km.Topic),
			slog.Int("partition", km.Partition), slog.Int64("offset", km.Offset),
			slog.String("kind", errorKind(d.deadLettered)), slog.Any("error", d.deadLettered))
	}
	c.duration.Record(work, time.Since(start).Seconds(), metric.WithAttributes(attrs...))
	return true, d.deadLettered != nil
}

// commit commits kms (handled; dead of them dead-lettered), retrying until
// it succeeds or the drain deadline passes, and records the consumed and lag
// metrics. It reports false when the offsets could not be committed.
func (c *Consumer) commit(work context.Context, r *kafka.Reader, kms []kafka.Message, dead int) bool {
	if len(kms) == 0 {
		return true
	}
	for attempt := 1; ; attempt++ {
		err := r.CommitMessages(work, kms...)
		if err == nil {
			break
		}
		if work.Err() != nil || errors.Is(err, io.ErrClosedPipe) {
			c.log.Warn("bus: commit abandoned", slog.Int("messages", len(kms)), slog.Any("error", err))
			return false
		}
		last := kms[len(kms)-1]
		c.log.Warn("bus: commit failed, retrying", slog.String("topic", last.Topic),
			slog.Int("partition", last.Partition), slog.Int64("offset", last.Offset), slog.Any("error", err))
		if !sleep(work, backoff(attempt, 100*time.Millisecond, c.cfg.RedeliveryBackoff)) {
			return false
		}
	}
	type tp struct {
		topic     string
		partition int
	}
	counts := map[string]int{}
	lastOf := map[tp]kafka.Message{}
	for _, km := range kms {
		counts[km.Topic]++
		lastOf[tp{km.Topic, km.Partition}] = km
	}
	for topic, n := range counts {
		attrs := []attribute.KeyValue{semconv.MessagingSystemKafka, semconv.MessagingDestinationName(topic),
			semconv.MessagingConsumerGroupName(c.cfg.GroupID)}
		// Dead letters are rare; attribute them to the batch's first topic.
		if d := min(dead, n); d > 0 {
			c.consumed.Add(work, int64(d), metric.WithAttributes(append(attrs, attribute.String("strata.outcome", "dead_lettered"))...))
			n, dead = n-d, dead-d
		}
		if n > 0 {
			c.consumed.Add(work, int64(n), metric.WithAttributes(append(attrs, attribute.String("strata.outcome", "handled"))...))
		}
	}
	for k, km := range lastOf {
		if km.HighWaterMark > 0 {
			c.lag.Record(work, max(km.HighWaterMark-km.Offset-1, 0), metric.WithAttributes(
				semconv.MessagingSystemKafka, semconv.MessagingDestinationName(k.topic),
				semconv.MessagingConsumerGroupName(c.cfg.GroupID),
				semconv.MessagingDestinationPartitionID(strconv.Itoa(k.partition))))
		}
	}
	return true
}
