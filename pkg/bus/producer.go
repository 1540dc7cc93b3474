package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// ErrMissingTopic is returned by Publish for a message without a topic.
var ErrMissingTopic = errors.New("bus: message has no topic")

// Publisher publishes messages; [*Producer] implements it.
type Publisher interface {
	Publish(ctx context.Context, msgs ...Message) error
}

// Producer publishes messages to Kafka. It is safe for concurrent use.
type Producer struct {
	cfg       ProducerConfig
	w         *kafka.Writer
	transport *kafka.Transport
	tracer    trace.Tracer
	sent      metric.Int64Counter
}

// NewProducer returns a Producer for cfg. It does not connect until the first
// Publish.
func NewProducer(cfg ProducerConfig) (*Producer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.BatchTimeout == 0 {
		cfg.BatchTimeout = 2 * time.Millisecond
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = 1000
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	transport := &kafka.Transport{ClientID: cfg.clientID()}
	log := cfg.logger()
	w := &kafka.Writer{
		Addr: kafka.TCP(cfg.Brokers...),
		// murmur2 is the Java client's partitioner: upstream Java producers
		// of strata.events.raw.v1 and this one put a key on the same
		// partition. Nil keys are spread at random, not all hashed to one.
		Balancer:               &kafka.Murmur2Balancer{},
		RequiredAcks:           kafka.RequireAll,
		BatchTimeout:           cfg.BatchTimeout,
		BatchSize:              cfg.BatchSize,
		WriteTimeout:           cfg.WriteTimeout,
		Compression:            kafka.Lz4,
		AllowAutoTopicCreation: false,
		Transport:              transport,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			log.Warn(fmt.Sprintf(msg, args...), slog.String("component", "kafka-go"))
		}),
	}
	sent, err := cfg.meter().Int64Counter("messaging.client.sent.messages",
		metric.WithDescription("Messages Publish attempted to send, by outcome (error.type)."),
		metric.WithUnit("{message}"))
	if err != nil {
		return nil, fmt.Errorf("bus: create metric: %w", err)
	}
	return &Producer{cfg: cfg, w: w, transport: transport, tracer: cfg.tracer(), sent: sent}, nil
}

// Publish writes msgs and blocks until Kafka acknowledged all of them (acks=all)
// or the write failed. Each message needs a Topic; Partition, Offset and Time
// are ignored. On error some messages may have been written: publishing them
// again is safe because consumers are idempotent.
func (p *Producer) Publish(ctx context.Context, msgs ...Message) error {
	if len(msgs) == 0 {
		return nil
	}
	for i, m := range msgs {
		if m.Topic == "" {
			return fmt.Errorf("bus: publish message %d of %d: %w", i+1, len(msgs), ErrMissingTopic)
		}
	}
	// One span per topic of the call, not per message: a batch of a thousand events
	// is one send. Every message carries the context of its topic's span.
	prop := p.cfg.propagator()
	sends := make(map[string]*send, 1)
	kms := make([]kafka.Message, len(msgs))
	for i, m := range msgs {
		sd := sends[m.Topic]
		if sd == nil {
			sd = &send{}
			var sctx context.Context
			sctx, sd.span = p.tracer.Start(ctx, "send "+m.Topic,
				trace.WithSpanKind(trace.SpanKindProducer),
				trace.WithAttributes(
					semconv.MessagingSystemKafka,
					semconv.MessagingOperationTypeSend,
					semconv.MessagingOperationName("send"),
					semconv.MessagingDestinationName(m.Topic),
					semconv.MessagingClientID(p.cfg.clientID()),
				))
			prop.Inject(sctx, headerCarrier{&sd.trace})
			sends[m.Topic] = sd
		}
		sd.count++
		headers := make([]kafka.Header, 0, len(m.Headers)+len(sd.trace))
		for _, h := range m.Headers {
			headers = append(headers, kafka.Header{Key: h.Key, Value: h.Value})
		}
		headers = append(headers, sd.trace...)
		kms[i] = kafka.Message{Topic: m.Topic, Key: m.Key, Value: m.Value, Headers: headers}
	}

	err := p.w.WriteMessages(ctx, kms...)

	var perMsg kafka.WriteErrors
	if !errors.As(err, &perMsg) || len(perMsg) != len(msgs) {
		perMsg = nil
	}
	if perMsg != nil {
		for i, msgErr := range perMsg {
			if msgErr != nil {
				sd := sends[msgs[i].Topic]
				sd.failed++
				if sd.err == nil {
					sd.err = msgErr
				}
			}
		}
	} else if err != nil {
		for _, sd := range sends {
			sd.failed, sd.err = sd.count, err
		}
	}
	for topic, sd := range sends {
		sd.span.SetAttributes(semconv.MessagingBatchMessageCount(sd.count))
		ok := []attribute.KeyValue{semconv.MessagingSystemKafka, semconv.MessagingDestinationName(topic)}
		if n := sd.count - sd.failed; n > 0 {
			p.sent.Add(ctx, int64(n), metric.WithAttributes(ok...))
		}
		if sd.failed > 0 {
			sd.span.RecordError(sd.err)
			sd.span.SetStatus(codes.Error, "publish failed")
			p.sent.Add(ctx, int64(sd.failed), metric.WithAttributes(append(ok, semconv.ErrorType(sd.err))...))
		}
		sd.span.End()
	}
	if err != nil {
		return fmt.Errorf("bus: publish %d message(s): %w", len(msgs), err)
	}
	return nil
}

// send is what Publish tracks per topic: the span, the trace headers its messages
// carry, and how many of them were sent and failed.
type send struct {
	span          trace.Span
	trace         []kafka.Header
	count, failed int
	err           error
}

// Close flushes pending writes and releases connections. Publish must not
// be called after Close.
func (p *Producer) Close() error {
	err := p.w.Close()
	p.transport.CloseIdleConnections()
	if err != nil {
		return fmt.Errorf("bus: close producer: %w", err)
	}
	return nil
}
