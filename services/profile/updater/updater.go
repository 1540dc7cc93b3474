// Package updater is the profile service's consumer of strata.events.v1,
// strata.predictions.v1 and strata.privacy.v1: it applies each event or prediction to the
// user's profile, derives the time-relative fields as of processing time, evaluates the
// rule segments, publishes the new profile to the compacted strata.profiles.v1
// changelog, caches it in Redis and records segment enter/exit events, which it
// publishes to strata.segments.v1; it carries out erasure requests.
//
// [Updater.HandleBatch] is a bus batch handler: a batch's messages are applied in partition
// order to the in-memory profiles of the batch's users (read from Redis in one pipeline),
// each change is derived and its segments evaluated (so enter/exit events are those of
// a message-at-a-time pass, wherever batches begin), and the batch costs one changelog
// write (the latest profile per user), one Redis pipeline of versioned puts and one of
// membership scripts. The handler is idempotent (see package state: each profile keeps
// the position of the last message it applied), so a batch run again after a failure or a
// crash counts nothing twice. An undecodable message fails the batch as permanent; the bus
// then runs the messages one at a time under its retry and dead-letter middleware, and
// only that one goes to the dead-letter topic; a Redis or Kafka error is retried. The
// consumer group reads both topics with the range balancer, so partition i of both lands
// on one instance and a user's profile has a single writer.
//
// Order of writes: changelog, then Redis (only if Redis holds no newer version), then
// memberships. A crash between two of them leaves the batch uncommitted; the redelivery
// finds the events applied, writes nothing again but completes the memberships.
//
// Right to erasure: an erasure request on strata.privacy.v1 (read by the same consumer,
// so it is applied in order with the batch's other messages) makes the user leave every
// segment, publishes a tombstone for the user on the changelog, deletes the profile
// from Redis and publishes the profile service's erasure receipt to
// strata.privacy.receipts.v1. Events of the user consumed after it start a
// fresh profile: the erasure forgets the past, it does not block the future.
package updater

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
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
	privacyv1 "github.com/stratahq/strata/proto/strata/privacy/v1"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	"github.com/stratahq/strata/services/profile/cluster"
	"github.com/stratahq/strata/services/profile/segment"
	"github.com/stratahq/strata/services/profile/state"
	"github.com/stratahq/strata/services/profile/store"
)

// SpanName is the name of the span that covers one profile update.
const SpanName = "profile.update"

// profiles reads and writes encoded profiles, many users per call (see package store).
type profiles interface {
	GetMany(ctx context.Context, userIDs []string) (map[string][]byte, error)
	PutMany(ctx context.Context, ps []store.Encoded) (stale []bool, err error)
}

type publisher interface {
	Publish(ctx context.Context, msgs ...bus.Message) error
}

type memberships interface {
	ApplyMemberships(ctx context.Context, at time.Time, updates []store.MembershipUpdate) ([]int64, error)
	FlushOutbox(ctx context.Context, userID string, publish func(context.Context, []*profilev1.SegmentEvent) error) error
}

type definitions interface {
	List() []*segment.Definition
}

// erasures deletes a user's state (package store).
type erasures interface {
	MarkErased(ctx context.Context, userID string, ttl time.Duration) error
	Erased(ctx context.Context, userIDs []string) (map[string]bool, error)
	ExitAll(ctx context.Context, userID string, at time.Time) (int64, error)
	FlushOutbox(ctx context.Context, userID string, publish func(context.Context, []*profilev1.SegmentEvent) error) error
	Delete(ctx context.Context, userID string) error
}

// Topics names the topics the updater reads and writes.
type Topics struct {
	Events, Predictions, Profiles, Segments, Privacy string
	// Receipts receives erasure receipts; strata.privacy.receipts.v1 when empty.
	Receipts string
}

// DefaultTopics are the suite's topics.
func DefaultTopics() Topics {
	return Topics{Events: topics.Events, Predictions: topics.Predictions, Profiles: topics.Profiles, Segments: topics.Segments,
		Privacy: topics.Privacy, Receipts: topics.PrivacyReceipts}
}

// ReceiptService is the service name of the profile service's erasure receipts.
const ReceiptService = "profile"

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
	erasures    erasures
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

// WithErasures carries out erasure requests (strata.privacy.v1) with e; without it they
// fail as permanent errors (dead-lettered).
func WithErasures(e erasures) Option { return func(u *Updater) { u.erasures = e } }

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

// Handle is the bus handler for strata.events.v1 and strata.predictions.v1: a batch of
// one message (see HandleBatch).
func (u *Updater) Handle(ctx context.Context, msg bus.Message) error {
	return u.HandleBatch(ctx, []bus.Message{msg})
}

// item is one decoded message of a batch.
type item struct {
	msg   bus.Message
	user  string
	ev    *eventv1.Event
	pred  *predictionv1.Prediction
	erase *privacyv1.PrivacyRequest
	// skip is a message with nothing to apply: a privacy request of another action, or
	// a prediction tombstone (the prediction service erased the user).
	skip bool
}

// HandleBatch is the bus batch handler for strata.events.v1, strata.predictions.v1 and
// strata.privacy.v1 (an erasure request splits the batch: the messages before it are
// applied, then the user is erased, then the rest are applied).
// It reads the batch's users' profiles in one Redis pipeline, applies the messages in
// order in memory (with segments defined, deriving and evaluating them after each
// change, as a message-at-a-time pass would), publishes the latest profile of each
// changed user to the changelog in one write, stores them in one pipeline, then records
// the memberships in one pipeline. An undecodable or keyless message
// fails the batch with a permanent error, before any write: the consumer then handles
// the messages one at a time and dead-letters that one.
func (u *Updater) HandleBatch(ctx context.Context, msgs []bus.Message) error {
	items := make([]item, 0, len(msgs))
	for _, msg := range msgs {
		it, err := u.decode(msg)
		if err != nil {
			return err
		}
		items = append(items, it)
	}
	ctx, span := u.tracer.Start(ctx, SpanName, trace.WithAttributes(attribute.Int("messaging.batch.message_count", len(msgs))))
	defer span.End()
	if len(msgs) == 1 {
		span.SetAttributes(
			attribute.String("strata.event_id", items[0].ev.GetEventId()),
			attribute.String("messaging.destination.name", msgs[0].Topic),
			attribute.Int("messaging.kafka.partition", msgs[0].Partition),
			attribute.Int64("messaging.kafka.offset", msgs[0].Offset),
		)
	}
	err := u.applyAll(ctx, items)
	if err != nil {
		span.RecordError(err)
	}
	return err
}

// applyAll applies items in order: the runs of events and predictions between erasure
// requests are applied as batches, each erasure after the run before it.
func (u *Updater) applyAll(ctx context.Context, items []item) error {
	run := make([]item, 0, len(items))
	for _, it := range items {
		switch {
		case it.skip:
		case it.erase != nil:
			if err := u.apply(ctx, run); err != nil {
				return err
			}
			run = run[:0]
			if err := u.eraseUser(ctx, it); err != nil {
				return err
			}
		default:
			run = append(run, it)
		}
	}
	return u.apply(ctx, run)
}

// ErasedPredictionGuard is how long after an erasure a prediction for the user is ignored
// while the user has no profile: the prediction service may have scored the user just
// before it learnt of the erasure, and that prediction, consumed after the erasure,
// must not bring a profile back. Events start a fresh profile at once; predictions apply
// again to it.
const ErasedPredictionGuard = 24 * time.Hour

// eraseUser carries out an erasure request: the user leaves every segment (exit events
// published to strata.segments.v1, member sets updated), a tombstone for the user goes to
// the compacted changelog (so a restore does not bring the profile back, and compaction
// removes it from Kafka), then the profile and its segment state are deleted from Redis.
// Each step is idempotent, so a replay, or a redelivery after a crash between steps,
// completes the erasure. Last, the receipt goes to strata.privacy.receipts.v1, counting
// the profile deleted and the segments left (none on a replay). Events of the user
// consumed afterwards start a fresh profile.
func (u *Updater) eraseUser(ctx context.Context, it item) error {
	if u.erasures == nil {
		return bus.Permanent(errors.New("profile: erasure request, but erasures are not configured"))
	}
	stored, err := u.profiles.GetMany(ctx, []string{it.user})
	if err != nil {
		return err
	}
	if err := u.erasures.MarkErased(ctx, it.user, ErasedPredictionGuard); err != nil {
		return err
	}
	exits, err := u.erasures.ExitAll(ctx, it.user, u.now())
	if err != nil {
		return err
	}
	if err := u.erasures.FlushOutbox(ctx, it.user, u.PublishSegmentEvents); err != nil {
		return err
	}
	if err := u.pub.Publish(ctx, bus.Message{Topic: u.topics.Profiles, Key: []byte(it.user)}); err != nil {
		return fmt.Errorf("publish profile tombstone: %w", err)
	}
	if err := u.erasures.Delete(ctx, it.user); err != nil {
		return err
	}
	items := exits + int64(len(stored))
	if err := u.publishReceipt(ctx, it, items); err != nil {
		return err
	}
	u.log.InfoContext(ctx, "profile erased", slog.String("request_id", it.erase.GetRequestId()), slog.Int64("items", items))
	return nil
}

// publishReceipt publishes the profile service's receipt of an erasure carried out.
func (u *Updater) publishReceipt(ctx context.Context, it item, items int64) error {
	b, err := proto.Marshal(&privacyv1.ErasureReceipt{RequestId: it.erase.GetRequestId(), UserId: it.user, Service: ReceiptService,
		CompletedAt: timestamppb.New(u.now()), Items: items})
	if err != nil {
		return bus.Permanent(fmt.Errorf("encode erasure receipt: %w", err))
	}
	topic := u.topics.Receipts
	if topic == "" {
		topic = topics.PrivacyReceipts
	}
	key := privacyv1.ReceiptKey(it.erase.GetRequestId(), ReceiptService)
	if err := u.pub.Publish(ctx, bus.Message{Topic: topic, Key: key, Value: b}); err != nil {
		return fmt.Errorf("publish erasure receipt: %w", err)
	}
	return nil
}

func (u *Updater) decode(msg bus.Message) (item, error) {
	it := item{msg: msg, user: string(msg.Key)}
	if msg.Topic == u.topics.Privacy {
		r := &privacyv1.PrivacyRequest{}
		if err := proto.Unmarshal(msg.Value, r); err != nil {
			return it, bus.Permanent(fmt.Errorf("decode privacy request: %w", err))
		}
		if it.user == "" {
			it.user = r.GetUserId()
		}
		if r.GetRequestId() == "" {
			return it, bus.Permanent(errors.New("privacy request without a request id"))
		}
		if r.GetAction() == privacyv1.PrivacyAction_PRIVACY_ACTION_ERASE {
			it.erase = r
		} else {
			it.skip = true
		}
	} else if msg.Topic == u.topics.Predictions && msg.Value == nil {
		// Not a prediction to apply: it would create a profile for an erased user.
		it.skip = true
	} else if msg.Topic == u.topics.Predictions {
		it.pred = &predictionv1.Prediction{}
		if err := proto.Unmarshal(msg.Value, it.pred); err != nil {
			return it, bus.Permanent(fmt.Errorf("decode prediction: %w", err))
		}
		if it.user == "" {
			it.user = it.pred.GetUserId()
		}
	} else {
		it.ev = &eventv1.Event{}
		if err := proto.Unmarshal(msg.Value, it.ev); err != nil {
			return it, bus.Permanent(fmt.Errorf("decode event: %w", err))
		}
	}
	if it.user == "" {
		return it, bus.Permanent(errors.New("message without a key"))
	}
	return it, nil
}

// working is a batch's in-memory state: the profiles of its users as the batch leaves
// them, and which changed.
type working struct {
	profiles map[string]*profilev1.Profile
	order    []string // users in order of first appearance
	changed  map[string]bool
	// The batch is derived as of now, with the definitions, RFM boundaries and clusters
	// current when it began.
	now      time.Time
	defs     []*segment.Definition
	bounds   *profilev1.RfmBoundaries
	clusters *profilev1.ClusterModel
	// updates are the membership results of every change, per user in order: segments
	// are evaluated after each applied message, as if the batch were handled one message
	// at a time, so enter/exit events do not depend on where a batch began.
	updates map[string][]store.MembershipUpdate
	// loadedBytes is the encoded size of the profiles read from Redis: it sizes the
	// buffer the batch's profiles are encoded into.
	loadedBytes int
}

// evaluates reports whether memberships are recorded.
func (u *Updater) evaluates(w *working) bool { return u.memberships != nil && len(w.defs) > 0 }

// derive derives p as of the batch's time and evaluates the segments on it.
func (u *Updater) derive(ctx context.Context, w *working, p *profilev1.Profile) []segment.Result {
	u.deriver.Derive(p, w.now, w.bounds)
	p.BehaviourCluster = cluster.Assign(w.clusters, p)
	if len(w.defs) == 0 {
		return nil
	}
	results := segment.Evaluate(w.defs, p, func(id string, err error) {
		u.log.DebugContext(ctx, "segment rule failed on a profile", slog.String("segment", id), slog.Any("error", err))
	})
	p.Segments = segment.Members(results)
	return results
}

func (u *Updater) apply(ctx context.Context, items []item) error {
	if len(items) == 0 {
		return nil
	}
	w := &working{profiles: make(map[string]*profilev1.Profile, len(items)), changed: make(map[string]bool, len(items)),
		now: u.now(), bounds: u.boundaries(), clusters: u.clusters(), updates: map[string][]store.MembershipUpdate{}}
	if u.defs != nil {
		w.defs = u.defs.List()
	}
	for _, it := range items {
		if _, ok := w.profiles[it.user]; !ok {
			w.profiles[it.user] = nil
			w.order = append(w.order, it.user)
		}
	}
	loaded, err := u.load(ctx, w.order, w.profiles)
	if err != nil {
		return err
	}
	w.loadedBytes = loaded
	// Alias sources outside the batch's users are read as they are in Redis.
	merged := map[string]*profilev1.Profile{}
	var sources []string
	for _, it := range items {
		if prev := it.ev.GetPreviousId(); it.ev.GetType() == eventv1.EventType_EVENT_TYPE_ALIAS && prev != "" && prev != it.user {
			if _, inBatch := w.profiles[prev]; !inBatch {
				sources = append(sources, prev)
			}
		}
	}
	if len(sources) > 0 {
		got, err := u.profiles.GetMany(ctx, sources)
		if err != nil {
			return err
		}
		for user, b := range got {
			p, err := decodeProfile(b)
			if err != nil {
				return err
			}
			merged[user] = p
		}
	}
	erased, err := u.erasedWithoutProfile(ctx, items, w.profiles)
	if err != nil {
		return err
	}
	for _, it := range items {
		p := w.profiles[it.user]
		if it.pred != nil && p == nil && erased[it.user] {
			continue // scored before the user's erasure
		}
		pos := &profilev1.Position{Partition: int32(it.msg.Partition), Offset: it.msg.Offset}
		var changed bool
		if it.pred != nil {
			p, changed = state.ApplyPrediction(p, it.user, it.pred, pos)
		} else {
			var src *profilev1.Profile
			if prev := it.ev.GetPreviousId(); it.ev.GetType() == eventv1.EventType_EVENT_TYPE_ALIAS && prev != "" && prev != it.user {
				if src = w.profiles[prev]; src == nil {
					src = merged[prev]
				}
			}
			p, changed = u.params.Apply(p, it.user, it.ev, pos, src)
		}
		w.profiles[it.user] = p
		if changed {
			w.changed[it.user] = true
			if u.evaluates(w) {
				w.updates[it.user] = append(w.updates[it.user],
					store.MembershipUpdate{UserID: it.user, Version: p.GetVersion(), Results: u.derive(ctx, w, p)})
			}
		}
	}
	return u.commit(ctx, w)
}

// erasedWithoutProfile returns which users of the batch's predictions have no profile and
// were erased recently (see ErasedPredictionGuard); one Redis round trip, only when such
// predictions are in the batch.
func (u *Updater) erasedWithoutProfile(ctx context.Context, items []item, profiles map[string]*profilev1.Profile) (map[string]bool, error) {
	if u.erasures == nil {
		return nil, nil
	}
	var users []string
	seen := map[string]bool{}
	for _, it := range items {
		if it.pred != nil && profiles[it.user] == nil && !seen[it.user] {
			seen[it.user] = true
			users = append(users, it.user)
		}
	}
	if len(users) == 0 {
		return nil, nil
	}
	return u.erasures.Erased(ctx, users)
}

// load reads the profiles of users into into (nil for a new user) and returns their
// encoded size. A missing profile is a new user only once the restore gate confirmed
// Redis did not lose the profiles.
func (u *Updater) load(ctx context.Context, users []string, into map[string]*profilev1.Profile) (int, error) {
	got, err := u.profiles.GetMany(ctx, users)
	if err != nil {
		return 0, err
	}
	var missing []string
	for _, user := range users {
		if _, ok := got[user]; !ok {
			missing = append(missing, user)
		}
	}
	if len(missing) > 0 && u.restored != nil {
		if err := u.restored(ctx); err != nil {
			return 0, err
		}
		again, err := u.profiles.GetMany(ctx, missing)
		if err != nil {
			return 0, err
		}
		for user, b := range again {
			got[user] = b
		}
	}
	size := 0
	for user, b := range got {
		p, err := decodeProfile(b)
		if err != nil {
			return 0, err
		}
		into[user] = p
		size += len(b)
	}
	return size, nil
}

func decodeProfile(b []byte) (*profilev1.Profile, error) {
	p := &profilev1.Profile{}
	if err := proto.Unmarshal(b, p); err != nil {
		return nil, fmt.Errorf("decode stored profile: %w", err)
	}
	return p, nil
}

// newProfileBytes is room for a new user's first encoded profile (about 0.5 KB after a
// day of activity).
const newProfileBytes = 512

// commit writes what the batch changed: the changelog (one write), Redis (one pipeline,
// skipping profiles Redis holds newer), memberships (one pipeline), then the outboxes of
// users with segment events.
func (u *Updater) commit(ctx context.Context, w *working) error {
	var (
		changelog = make([]bus.Message, 0, len(w.changed))
		puts      = make([]store.Encoded, 0, len(w.changed))
		updates   []store.MembershipUpdate
		// The batch's profiles are encoded into one buffer, sized for what was read
		// plus growth: one allocation per batch instead of one per profile. The buffer
		// is never reused, so the values handed to Publish and PutMany stay as encoded.
		buf = make([]byte, 0, w.loadedBytes+w.loadedBytes/8+newProfileBytes*len(w.changed))
	)
	for _, user := range w.order {
		p := w.profiles[user]
		changed := w.changed[user]
		if p == nil || (!changed && !u.evaluates(w)) {
			continue
		}
		if !changed {
			// A redelivery: nothing to write, but the memberships may not have been
			// recorded before the crash.
			updates = append(updates, store.MembershipUpdate{UserID: user, Version: p.GetVersion(), Results: u.derive(ctx, w, p)})
			continue
		}
		if !u.evaluates(w) {
			u.derive(ctx, w, p)
		}
		if p.UpdatedAt == nil {
			p.UpdatedAt = timestamppb.New(w.now)
		} else {
			p.UpdatedAt.Seconds, p.UpdatedAt.Nanos = w.now.Unix(), int32(w.now.Nanosecond())
		}
		start := len(buf)
		var err error
		if buf, err = (proto.MarshalOptions{}).MarshalAppend(buf, p); err != nil {
			return bus.Permanent(fmt.Errorf("encode profile: %w", err))
		}
		value := buf[start:len(buf):len(buf)]
		changelog = append(changelog, bus.Message{Topic: u.topics.Profiles, Key: []byte(user), Value: value})
		puts = append(puts, store.Encoded{UserID: user, Version: p.GetVersion(), Bytes: value})
		updates = append(updates, w.updates[user]...)
	}
	if len(changelog) > 0 {
		if err := u.pub.Publish(ctx, changelog...); err != nil {
			return fmt.Errorf("publish profiles: %w", err)
		}
		stale, err := u.profiles.PutMany(ctx, puts)
		if err != nil {
			return err
		}
		skip := map[string]bool{}
		for i, s := range stale {
			if s {
				// Another instance already owns this user's partition and wrote past us.
				u.log.InfoContext(ctx, "profile: skipped a stale write", slog.Int64("version", puts[i].Version))
				skip[puts[i].UserID] = true
			}
		}
		if len(skip) > 0 {
			updates = slices.DeleteFunc(updates, func(m store.MembershipUpdate) bool { return skip[m.UserID] })
		}
	}
	if len(updates) == 0 {
		return nil
	}
	queued, err := u.memberships.ApplyMemberships(ctx, w.now, updates)
	if err != nil {
		return err
	}
	flush := map[string]bool{}
	for i, n := range queued {
		// n < 0: memberships of a newer profile version are stored.
		if n > 0 && !flush[updates[i].UserID] {
			flush[updates[i].UserID] = true
			if err := u.memberships.FlushOutbox(ctx, updates[i].UserID, u.PublishSegmentEvents); err != nil {
				return err
			}
		}
	}
	return nil
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
