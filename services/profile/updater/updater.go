// Package updater is the profile service's consumer of strata.events.v1: it applies each
// event to the user's profile, publishes the new profile to the compacted
// strata.profiles.v1 changelog and caches it in Redis.
//
// The handler is idempotent (see package state) and runs once per message, in partition
// order, under the bus's retry and dead-letter middleware: an undecodable event is
// permanent and goes to the dead-letter topic; a Redis or Kafka error is retried.
package updater

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/topics"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	"github.com/stratahq/strata/services/profile/state"
	"github.com/stratahq/strata/services/profile/store"
)

// SpanName is the name of the span that covers one profile update.
const SpanName = "profile.update"

type profiles interface {
	Get(ctx context.Context, userID string) (*profilev1.Profile, error)
	Put(ctx context.Context, p *profilev1.Profile) error
}

type publisher interface {
	Publish(ctx context.Context, msgs ...bus.Message) error
}

// Updater applies events to profiles.
type Updater struct {
	profiles profiles
	pub      publisher
	tracer   trace.Tracer
	now      func() time.Time
}

// New returns an updater.
func New(p profiles, pub publisher) *Updater {
	return &Updater{profiles: p, pub: pub, tracer: otel.Tracer("github.com/stratahq/strata/services/profile"), now: time.Now}
}

// Handle is the bus handler for strata.events.v1.
func (u *Updater) Handle(ctx context.Context, msg bus.Message) error {
	ev := &eventv1.Event{}
	if err := proto.Unmarshal(msg.Value, ev); err != nil {
		return bus.Permanent(fmt.Errorf("decode event: %w", err))
	}
	userID := string(msg.Key)
	if userID == "" {
		return bus.Permanent(errors.New("event without a key"))
	}
	ctx, span := u.tracer.Start(ctx, SpanName, trace.WithAttributes(
		attribute.String("strata.event_id", ev.GetEventId()),
		attribute.Int("messaging.kafka.partition", msg.Partition),
		attribute.Int64("messaging.kafka.offset", msg.Offset),
	))
	defer span.End()

	p, err := u.profiles.Get(ctx, userID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		span.RecordError(err)
		return err
	}
	pos := &profilev1.Position{Partition: int32(msg.Partition), Offset: msg.Offset}
	p, changed := state.Apply(p, userID, ev, pos)
	if !changed {
		span.SetAttributes(attribute.Bool("strata.duplicate", true))
		return nil
	}
	p.UpdatedAt = timestamppb.New(u.now())
	value, err := proto.Marshal(p)
	if err != nil {
		return bus.Permanent(fmt.Errorf("encode profile: %w", err))
	}
	if err := u.pub.Publish(ctx, bus.Message{Topic: topics.Profiles, Key: msg.Key, Value: value}); err != nil {
		span.RecordError(err)
		return fmt.Errorf("publish profile: %w", err)
	}
	if err := u.profiles.Put(ctx, p); err != nil {
		span.RecordError(err)
		return err
	}
	return nil
}
