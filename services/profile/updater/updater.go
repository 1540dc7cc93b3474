// Package updater is the profile service's consumer of strata.events.v1 and
// strata.predictions.v1: it applies each event or prediction to the user's profile,
// derives the time-relative fields as of processing time, evaluates the rule segments,
// publishes the new profile to the compacted strata.profiles.v1 changelog, caches it in
// Redis and records segment enter/exit events, which it publishes to strata.segments.v1.
//
// The handler is idempotent (see package state) and runs once per message, in partition
// order, under the bus's retry and dead-letter middleware: an undecodable message is
// permanent and goes to the dead-letter topic; a Redis or Kafka error is retried. The
// consumer group reads both topics with the range balancer, so partition i of both lands
// on one instance and a user's profile has a single writer.
//
// Order of writes: changelog, then Redis (only if Redis holds no newer version), then
// memberships. A crash between two of them leaves the message uncommitted; the redelivery
// finds the event applied, writes nothing again but completes the memberships.
package updater

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/topics"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	predictionv1 "github.com/stratahq/strata/proto/strata/prediction/v1"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	"github.com/stratahq/strata/services/profile/cluster"
	"github.com/stratahq/strata/services/profile/segment"
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

type memberships interface {
	ApplyMembership(ctx context.Context, userID string, version int64, at time.Time, results []segment.Result) (int64, error)
	FlushOutbox(ctx context.Context, userID string, publish func(context.Context, []*profilev1.SegmentEvent) error) error
}

type definitions interface {
	List() []*segment.Definition
}

// Topics names the topics the updater reads and writes.
type Topics struct {
	Events, Predictions, Profiles, Segments string
}

// DefaultTopics are the suite's topics.
func DefaultTopics() Topics {
	return Topics{Events: topics.Events, Predictions: topics.Predictions, Profiles: topics.Profiles, Segments: topics.Segments}
}

// Updater applies events and predictions to profiles. It is safe for concurrent use by
// handlers of different users.
type Updater struct {
	profiles    profiles
	pub         publisher
	tracer      trace.Tracer
	now         func() time.Time
	params      state.Params
	deriver     state.Deriver
	boundaries  func() *profilev1.RfmBoundaries
	clusters    func() *profilev1.ClusterModel
	defs        definitions
	memberships memberships
	restored    func(context.Context) error
	topics      Topics
	log         *slog.Logger
}

// Option configures an Updater.
type Option func(*Updater)

// WithClock sets the clock derived fields are computed with.
func WithClock(now func() time.Time) Option { return func(u *Updater) { u.now = now } }

// WithDeriver sets the fold parameters and derivation rules.
func WithDeriver(d state.Deriver) Option {
	return func(u *Updater) { u.deriver, u.params = d, d.Params.WithDefaults() }
}

// WithBoundaries sets where the current RFM boundaries come from.
func WithBoundaries(f func() *profilev1.RfmBoundaries) Option {
	return func(u *Updater) { u.boundaries = f }
}

// WithClusters sets where the current behaviour clusters come from.
func WithClusters(f func() *profilev1.ClusterModel) Option {
	return func(u *Updater) { u.clusters = f }
}

// WithSegments evaluates the definitions on every change and records memberships.
func WithSegments(defs definitions, m memberships) Option {
	return func(u *Updater) { u.defs, u.memberships = defs, m }
}

// WithRestoreGate sets a check run when a profile is missing: it returns nil once the
// cache is known to hold every stored profile (waiting for a restore if needed).
func WithRestoreGate(f func(context.Context) error) Option {
	return func(u *Updater) { u.restored = f }
}

// WithTopics overrides the topic names.
func WithTopics(t Topics) Option { return func(u *Updater) { u.topics = t } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(u *Updater) { u.log = l } }

// New returns an updater writing profiles to p and messages through pub.
func New(p profiles, pub publisher, opts ...Option) *Updater {
	u := &Updater{
		profiles:   p,
		pub:        pub,
		tracer:     otel.Tracer("github.com/stratahq/strata/services/profile"),
		now:        time.Now,
		params:     state.DefaultParams(),
		boundaries: func() *profilev1.RfmBoundaries { return nil },
		clusters:   func() *profilev1.ClusterModel { return nil },
		topics:     DefaultTopics(),
		log:        slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(u)
	}
	return u
}

// Handle is the bus handler for strata.events.v1 and strata.predictions.v1.
func (u *Updater) Handle(ctx context.Context, msg bus.Message) error {
	userID := string(msg.Key)
	var (
		ev   *eventv1.Event
		pred *predictionv1.Prediction
	)
	if msg.Topic == u.topics.Predictions {
		pred = &predictionv1.Prediction{}
		if err := proto.Unmarshal(msg.Value, pred); err != nil {
			return bus.Permanent(fmt.Errorf("decode prediction: %w", err))
		}
		if userID == "" {
			userID = pred.GetUserId()
		}
	} else {
		ev = &eventv1.Event{}
		if err := proto.Unmarshal(msg.Value, ev); err != nil {
			return bus.Permanent(fmt.Errorf("decode event: %w", err))
		}
	}
	if userID == "" {
		return bus.Permanent(errors.New("message without a key"))
	}
	ctx, span := u.tracer.Start(ctx, SpanName, trace.WithAttributes(
		attribute.String("strata.event_id", ev.GetEventId()),
		attribute.String("messaging.destination.name", msg.Topic),
		attribute.Int("messaging.kafka.partition", msg.Partition),
		attribute.Int64("messaging.kafka.offset", msg.Offset),
	))
	defer span.End()

	p, err := u.get(ctx, userID)
	if err != nil {
		span.RecordError(err)
		return err
	}
	pos := &profilev1.Position{Partition: int32(msg.Partition), Offset: msg.Offset}
	var changed bool
	if pred != nil {
		p, changed = state.ApplyPrediction(p, userID, pred, pos)
	} else {
		var merged *profilev1.Profile
		if prev := ev.GetPreviousId(); ev.GetType() == eventv1.EventType_EVENT_TYPE_ALIAS && prev != "" && prev != userID {
			if merged, err = u.profiles.Get(ctx, prev); err != nil && !errors.Is(err, store.ErrNotFound) {
				span.RecordError(err)
				return err
			}
		}
		p, changed = u.params.Apply(p, userID, ev, pos, merged)
	}
	if err := u.commit(ctx, p, changed); err != nil {
		span.RecordError(err)
		return err
	}
	if !changed {
		span.SetAttributes(attribute.Bool("strata.duplicate", true))
	}
	return nil
}

// get returns the user's profile, nil for a new user.
func (u *Updater) get(ctx context.Context, userID string) (*profilev1.Profile, error) {
	p, err := u.profiles.Get(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		if u.restored != nil {
			// A missing profile is a new user only if Redis did not lose the profiles.
			if err := u.restored(ctx); err != nil {
				return nil, err
			}
			if p, err = u.profiles.Get(ctx, userID); err == nil {
				return p, nil
			}
		}
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
	}
	return p, err
}

// commit derives p as of now, evaluates the segments and writes what changed.
func (u *Updater) commit(ctx context.Context, p *profilev1.Profile, changed bool) error {
	now := u.now()
	var defs []*segment.Definition
	if u.defs != nil {
		defs = u.defs.List()
	}
	if !changed && (u.memberships == nil || len(defs) == 0) {
		return nil
	}
	u.deriver.Derive(p, now, u.boundaries())
	p.BehaviourCluster = cluster.Assign(u.clusters(), p)
	var results []segment.Result
	if len(defs) > 0 {
		results = segment.Evaluate(defs, p, func(id string, err error) {
			u.log.DebugContext(ctx, "segment rule failed on a profile", slog.String("segment", id), slog.Any("error", err))
		})
		p.Segments = segment.Members(results)
	}
	if changed {
		p.UpdatedAt = timestamppb.New(now)
		value, err := proto.Marshal(p)
		if err != nil {
			return bus.Permanent(fmt.Errorf("encode profile: %w", err))
		}
		if err := u.pub.Publish(ctx, bus.Message{Topic: u.topics.Profiles, Key: []byte(p.GetUserId()), Value: value}); err != nil {
			return fmt.Errorf("publish profile: %w", err)
		}
		if err := u.profiles.Put(ctx, p); err != nil {
			if errors.Is(err, store.ErrStale) {
				// Another instance already owns this user's partition and wrote past us.
				u.log.InfoContext(ctx, "profile: skipped a stale write", slog.Int64("version", p.GetVersion()))
				return nil
			}
			return err
		}
	}
	if u.memberships == nil || len(results) == 0 {
		return nil
	}
	n, err := u.memberships.ApplyMembership(ctx, p.GetUserId(), p.GetVersion(), now, results)
	if errors.Is(err, store.ErrStaleMembership) {
		return nil
	}
	if err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	return u.memberships.FlushOutbox(ctx, p.GetUserId(), u.PublishSegmentEvents)
}

// PublishSegmentEvents publishes enter/exit events to the segments topic, keyed by user.
func (u *Updater) PublishSegmentEvents(ctx context.Context, events []*profilev1.SegmentEvent) error {
	msgs := make([]bus.Message, 0, len(events))
	for _, e := range events {
		b, err := proto.Marshal(e)
		if err != nil {
			return fmt.Errorf("encode segment event: %w", err)
		}
		msgs = append(msgs, bus.Message{Topic: u.topics.Segments, Key: []byte(e.GetUserId()), Value: b})
	}
	return u.pub.Publish(ctx, msgs...)
}
