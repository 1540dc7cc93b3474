package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/stratahq/strata/pkg/topics"
)

// Handler handles one consumed message. Returning nil lets the consumer
// commit it; returning an error has it retried (see [Retry]) or dead-lettered
// (see [DeadLetter]). Handlers must be idempotent: a message can be delivered
// more than once.
type Handler func(ctx context.Context, msg Message) error

// BatchHandler handles a batch of consumed messages, in offset order within
// each partition (partitions may interleave). Returning nil lets the consumer
// commit the whole batch. Returning an error, or panicking, has the consumer
// run the batch's messages again one at a time (each as a batch of one, under
// the consumer's middleware), so a BatchHandler may see a message more than
// once and must be idempotent, as every handler.
type BatchHandler func(ctx context.Context, msgs []Message) error

// InOrder returns a BatchHandler that hands the batch's messages to h one by one, in
// order, and stops at the first error: the consumer then re-runs the batch message by
// message, so h (idempotent, as every handler) may see the messages before the failed
// one again. It serves handlers whose gain from a batch is the single commit.
func InOrder(h Handler) BatchHandler {
	return func(ctx context.Context, msgs []Message) error {
		for _, msg := range msgs {
			if err := h(ctx, msg); err != nil {
				return err
			}
		}
		return nil
	}
}

// Middleware wraps a Handler with behaviour of its own.
type Middleware func(next Handler) Handler

// Chain wraps h with mws, the first being the outermost: Chain(h, a, b) is
// a(b(h)).
func Chain(h Handler, mws ...Middleware) Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// Reliable returns the standard middleware stack, outermost first:
// DeadLetter(pub, strata.events.dlq.v1), Retry(policy), Recover(logger).
// Panics become permanent errors, transient errors are retried, and whatever
// still fails is dead-lettered.
func Reliable(dlq Publisher, policy RetryPolicy, logger *slog.Logger) []Middleware {
	return []Middleware{DeadLetter(dlq, topics.EventsDLQ), Retry(policy), Recover(logger)}
}

// Handler errors and markers.
var (
	// ErrPermanent marks errors that retrying cannot fix (malformed
	// payload, unknown schema); see [Permanent].
	ErrPermanent = errors.New("bus: permanent error")
	// ErrPanic marks a handler panic recovered by [Recover]; it is
	// permanent.
	ErrPanic = errors.New("bus: handler panicked")
	// ErrRetriesExhausted marks an error [Retry] gave up on.
	ErrRetriesExhausted = errors.New("bus: retries exhausted")
	// ErrStopping is returned by middleware that gave up on a message
	// because the consumer is shutting down; the message is not committed
	// and will be redelivered.
	ErrStopping = errors.New("bus: consumer stopping")
)

// Permanent marks err as permanent: [Retry] does not retry it and
// [DeadLetter] dead-letters it at once. errors.Is(Permanent(err), ErrPermanent)
// holds and err stays reachable with errors.Is/As. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err is marked permanent.
func IsPermanent(err error) bool { return errors.Is(err, ErrPermanent) }

type permanentError struct{ err error }

func (e permanentError) Error() string   { return e.err.Error() }
func (e permanentError) Unwrap() []error { return []error{e.err, ErrPermanent} }

// Recover turns a panic in the wrapped handler into a permanent error
// wrapping ErrPanic, logging the stack; a panic never crashes the consumer.
// A nil logger discards the log.
func Recover(logger *slog.Logger) Middleware {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return func(next Handler) Handler {
		return func(ctx context.Context, msg Message) (err error) {
			defer func() {
				if r := recover(); r != nil {
					logger.ErrorContext(ctx, "bus: handler panicked",
						slog.String("topic", msg.Topic), slog.Int("partition", msg.Partition),
						slog.Int64("offset", msg.Offset), slog.Any("panic", r),
						slog.String("stack", string(debug.Stack())))
					err = Permanent(fmt.Errorf("%w: %v", ErrPanic, r))
				}
			}()
			return next(ctx, msg)
		}
	}
}

// RetryPolicy bounds [Retry]. Zero fields take the defaults.
type RetryPolicy struct {
	// MaxAttempts counts every run of the handler, the first included;
	// default 5.
	MaxAttempts int
	// InitialBackoff is the pause after the first failure; default 100ms.
	InitialBackoff time.Duration
	// MaxBackoff caps the pause; default 5s.
	MaxBackoff time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 5
	}
	if p.InitialBackoff <= 0 {
		p.InitialBackoff = 100 * time.Millisecond
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = 5 * time.Second
	}
	return p
}

// backoff returns the pause after the given failed attempt (1-based):
// doubling from initial, capped, with the upper half jittered so that
// consumers failing together do not retry in lockstep.
func backoff(attempt int, initial, maxDelay time.Duration) time.Duration {
	d := initial
	for i := 1; i < attempt && d < maxDelay; i++ {
		d *= 2
	}
	d = min(d, maxDelay)
	half := d / 2
	return half + rand.N(half+1)
}

// Retry runs the wrapped handler again after errors, with exponential
// backoff, up to policy.MaxAttempts runs. Permanent errors are returned at
// once; after the last attempt the error is returned wrapped with
// ErrRetriesExhausted. If the consumer starts shutting down during a pause,
// Retry returns the error wrapped with ErrStopping.
func Retry(policy RetryPolicy) Middleware {
	p := policy.withDefaults()
	return func(next Handler) Handler {
		return func(ctx context.Context, msg Message) error {
			for attempt := 1; ; attempt++ {
				err := next(ctx, msg)
				switch {
				case err == nil:
					return nil
				case IsPermanent(err), errors.Is(err, ErrStopping):
					return err
				case attempt >= p.MaxAttempts:
					return fmt.Errorf("%w after %d attempts: %w", ErrRetriesExhausted, attempt, err)
				}
				if !waitDelivery(ctx, backoff(attempt, p.InitialBackoff, p.MaxBackoff)) {
					return fmt.Errorf("%w: %w", ErrStopping, err)
				}
			}
		}
	}
}

// Headers set on dead-lettered messages, next to the original headers.
const (
	// HeaderError holds the handler's error message.
	HeaderError = "strata-error"
	// HeaderErrorKind is "permanent", "panic", "retries-exhausted" or
	// "error".
	HeaderErrorKind = "strata-error-kind"
	// HeaderSourceTopic, HeaderSourcePartition and HeaderSourceOffset
	// locate the original message (decimal partition and offset).
	HeaderSourceTopic     = "strata-source-topic"
	HeaderSourcePartition = "strata-source-partition"
	HeaderSourceOffset    = "strata-source-offset"
	// HeaderConsumerGroup names the consumer group that gave up.
	HeaderConsumerGroup = "strata-consumer-group"
)

// DeadLetter publishes a message the wrapped handler failed on to topic,
// keeping its key, value and headers and adding the Header* headers, then
// reports success so that the consumer commits it and the partition keeps
// moving. If publishing fails it returns the error, so the message is not
// committed and the chain runs again. Errors caused by shutdown (ErrStopping,
// a cancelled context) are passed through, not dead-lettered.
func DeadLetter(pub Publisher, topic string) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, msg Message) error {
			err := next(ctx, msg)
			if err == nil || errors.Is(err, ErrStopping) || ctx.Err() != nil {
				return err
			}
			d := deliveryFrom(ctx)
			dl := Message{
				Topic:   topic,
				Key:     msg.Key,
				Value:   msg.Value,
				Headers: make([]Header, 0, len(msg.Headers)+6),
			}
			for _, h := range msg.Headers {
				if !isDeadLetterHeader(h.Key) {
					dl.Headers = append(dl.Headers, h)
				}
			}
			dl.Headers = append(dl.Headers,
				Header{HeaderError, []byte(err.Error())},
				Header{HeaderErrorKind, []byte(errorKind(err))},
				Header{HeaderSourceTopic, []byte(msg.Topic)},
				Header{HeaderSourcePartition, []byte(strconv.Itoa(msg.Partition))},
				Header{HeaderSourceOffset, []byte(strconv.FormatInt(msg.Offset, 10))},
			)
			if d != nil && d.group != "" {
				dl.Headers = append(dl.Headers, Header{HeaderConsumerGroup, []byte(d.group)})
			}
			if perr := pub.Publish(ctx, dl); perr != nil {
				return fmt.Errorf("bus: dead-letter to %s: %w (handler error: %w)", topic, perr, err)
			}
			if d != nil {
				d.deadLettered = err
			}
			return nil
		}
	}
}

func isDeadLetterHeader(k string) bool {
	switch k {
	case HeaderError, HeaderErrorKind, HeaderSourceTopic, HeaderSourcePartition, HeaderSourceOffset, HeaderConsumerGroup:
		return true
	}
	return false
}

func errorKind(err error) string {
	switch {
	case errors.Is(err, ErrPanic):
		return "panic"
	case IsPermanent(err):
		return "permanent"
	case errors.Is(err, ErrRetriesExhausted):
		return "retries-exhausted"
	}
	return "error"
}

// delivery is what the consumer tells its middleware about the message in
// hand, through the handler's context.
type delivery struct {
	group        string
	stopping     <-chan struct{} // closed when the consumer starts draining
	deadLettered error           // set by DeadLetter to the error it dead-lettered; read by the consumer after the chain returned
}

type deliveryKey struct{}

func withDelivery(ctx context.Context, d *delivery) context.Context {
	return context.WithValue(ctx, deliveryKey{}, d)
}

func deliveryFrom(ctx context.Context) *delivery {
	d, _ := ctx.Value(deliveryKey{}).(*delivery)
	return d
}

// waitDelivery pauses for d unless ctx is done or the consumer starts
// draining first, reporting whether the full pause elapsed.
func waitDelivery(ctx context.Context, d time.Duration) bool {
	var stopping <-chan struct{}
	if dl := deliveryFrom(ctx); dl != nil {
		stopping = dl.stopping
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-stopping:
		return false
	case <-t.C:
		return true
	}
}
