// Package pipeline validates canonical events and publishes them to strata.events.v1,
// keyed by user id (or anonymous id until identity resolution links it to a user).
//
// Accept returns only after Kafka acknowledged every event (the producer writes with
// acks=all). It is safe for concurrent use.
package pipeline

import (
	"context"
	"errors"
	"fmt"

	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/proto"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/rpcerr"
	"github.com/stratahq/strata/pkg/topics"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
)

// ErrUnavailable wraps publish failures: the client may retry later.
var ErrUnavailable = errors.New("event bus unavailable")

// InvalidError lists the events that failed validation; nothing was published.
type InvalidError struct {
	Index      int
	Violations []rpcerr.FieldViolation
}

func (e *InvalidError) Error() string {
	if len(e.Violations) == 0 {
		return fmt.Sprintf("event %d is invalid", e.Index)
	}
	return fmt.Sprintf("event %d: %s: %s", e.Index, e.Violations[0].Field, e.Violations[0].Description)
}

type publisher interface {
	Publish(ctx context.Context, msgs ...bus.Message) error
}

// Pipeline validates and publishes events.
type Pipeline struct {
	pub       publisher
	validator protovalidate.Validator
}

// New returns a pipeline publishing through pub.
func New(pub publisher) (*Pipeline, error) {
	v, err := protovalidate.New()
	if err != nil {
		return nil, fmt.Errorf("pipeline: validator: %w", err)
	}
	return &Pipeline{pub: pub, validator: v}, nil
}

// Validate checks one event against its contract.
func (p *Pipeline) Validate(ev *eventv1.Event) error {
	if err := p.validator.Validate(ev); err != nil {
		if vs, ok := rpcerr.Violations(err); ok {
			return &InvalidError{Violations: vs}
		}
		return fmt.Errorf("pipeline: validate: %w", err)
	}
	return nil
}

// Accept validates every event and, when all are valid, publishes them in one write.
// It returns an *InvalidError for the first invalid event (publishing nothing), or an
// error wrapping ErrUnavailable when Kafka did not acknowledge the write.
func (p *Pipeline) Accept(ctx context.Context, events ...*eventv1.Event) error {
	msgs := make([]bus.Message, 0, len(events))
	for i, ev := range events {
		if err := p.Validate(ev); err != nil {
			var ie *InvalidError
			if errors.As(err, &ie) {
				ie.Index = i
			}
			return err
		}
		value, err := proto.Marshal(ev)
		if err != nil {
			return fmt.Errorf("pipeline: marshal event %d: %w", i, err)
		}
		msgs = append(msgs, bus.Message{
			Topic: topics.Events,
			Key:   []byte(Key(ev)),
			Value: value,
			Headers: []bus.Header{
				{Key: "content-type", Value: []byte("application/x-protobuf")},
				{Key: "strata-event-id", Value: []byte(ev.GetEventId())},
			},
		})
	}
	if len(msgs) == 0 {
		return nil
	}
	if err := p.pub.Publish(ctx, msgs...); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// Key is the partition key of an event: the user id, else the anonymous id.
func Key(ev *eventv1.Event) string {
	if ev.GetUserId() != "" {
		return ev.GetUserId()
	}
	return ev.GetAnonymousId()
}
