// Package pipeline turns canonical events into records on strata.events.v1: it normalises
// and validates them, drops the duplicates of events already published (the dedup window),
// resolves identities (anonymous ids linked to users), adds identity-merge events and
// publishes everything of a batch in one write.
//
// # Ordering with respect to Kafka
//
// For each batch the pipeline asks the ledger once (one Redis round trip: is each
// (source, messageId) in the dedup window, and the identity operations below), publishes,
// and only after Kafka acknowledged the write (acks=all) records the batch's dedup keys
// and completed merges (one more round trip). So a failed publish leaves no dedup key
// behind and the client's retry is published; a duplicate is acknowledged only when its
// original was acknowledged by Kafka. The price is a narrow race: two instances handling
// the same message at the same moment may both publish it. Consumers are idempotent by
// event_id (DESIGN.md), so that costs a redundant record, never a wrong count. If
// recording fails after the publish the client still hears success (Kafka has the
// events); the window just misses them. Redis unavailable before the publish is
// ErrUnavailable: the pipeline never publishes what it could not deduplicate.
//
// # Identity
//
// identify (userId and anonymousId) and alias (previousId and userId) calls link the
// anonymous or previous id to the user; the latest link wins. An event that carries only
// an anonymousId which is linked gets the linked user as user_id, and so is keyed by the
// canonical user id; one whose id is not linked is keyed by its anonymousId, and the
// ledger notes that the id has a history of its own. Links and history notes take effect
// in Redis during the lookup, before the publish, so concurrent requests about one
// anonymous id (an SDK sends batches in parallel) cannot lose a merge.
//
// When an id with a history is linked and that history was never merged, the pipeline
// publishes a merge event right after the call that linked it, in the same write: a track
// event named "Identity Merged" ([vocab.IdentityMerged]), keyed by the user id, with
// user_id the user, anonymous_id and previous_id the id whose history joins the user, and
// properties {"anonymous_id", "user_id", "trigger" ("identify" or "alias"),
// "trigger_event_id"}. The merge is marked done after Kafka acknowledged it, so a failed
// publish merges again on the retry. Its event_id is derived from the two ids: if two
// instances learn the same link at once, consumers see the same event twice and apply it
// once. Consumers that keep per-user state (profile) move what they hold under the
// anonymous id to the user when they see it. A user-to-user alias is passed on as the
// alias event only: ids that were never anonymous-only have no history to merge.
//
// # Cost
//
// Validation checks the rules of strata.event.v1.Event directly and asks protovalidate
// only about events that may break them (rules.go); records are encoded into one buffer
// per batch, the free-form Structs by a direct encoder (encode.go). Both are held to
// protovalidate and proto.Marshal by tests and fuzz targets.
//
// A Pipeline is safe for concurrent use.
package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/rpcerr"
	"github.com/stratahq/strata/pkg/topics"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	"github.com/stratahq/strata/services/ingest/ledger"
	"github.com/stratahq/strata/services/ingest/vocab"
)

// ErrUnavailable wraps failures of Kafka or Redis: nothing was acknowledged, the client
// may retry later.
var ErrUnavailable = errors.New("event bus unavailable")

// DefaultPublishTimeout bounds one publish when no other deadline is shorter.
const DefaultPublishTimeout = 10 * time.Second

// InvalidError lists what is wrong with one event; nothing of its batch was published.
type InvalidError struct {
	// Index is the event's position in the batch.
	Index      int
	Violations []rpcerr.FieldViolation
}

func (e *InvalidError) Error() string {
	if len(e.Violations) == 0 {
		return fmt.Sprintf("event %d is invalid", e.Index)
	}
	return fmt.Sprintf("event %d: %s: %s", e.Index, e.Violations[0].Field, e.Violations[0].Description)
}

// RejectedError lists every invalid event of a batch, in order; nothing was published.
// errors.As finds the first *InvalidError through it.
type RejectedError struct {
	Events []*InvalidError
}

func (e *RejectedError) Error() string {
	if len(e.Events) == 1 {
		return e.Events[0].Error()
	}
	return fmt.Sprintf("%d events are invalid; first: %v", len(e.Events), e.Events[0])
}

// Unwrap returns the per-event errors.
func (e *RejectedError) Unwrap() []error {
	errs := make([]error, len(e.Events))
	for i, ie := range e.Events {
		errs[i] = ie
	}
	return errs
}

type publisher interface {
	Publish(ctx context.Context, msgs ...bus.Message) error
}

// Ledger is the dedup window and identity map; *ledger.Ledger implements it.
type Ledger interface {
	Lookup(ctx context.Context, keys []ledger.Key, ops []ledger.Op) (ledger.Snapshot, error)
	Record(ctx context.Context, c ledger.Changes) error
}

// Option configures a Pipeline.
type Option func(*Pipeline)

// WithLedger enables deduplication and identity resolution. Without a ledger every valid
// event is published, keyed by its own ids.
func WithLedger(l Ledger) Option { return func(p *Pipeline) { p.ledger = l } }

// WithPublishTimeout bounds each publish (default DefaultPublishTimeout).
func WithPublishTimeout(d time.Duration) Option {
	return func(p *Pipeline) {
		if d > 0 {
			p.publishTimeout = d
		}
	}
}

// WithTopic replaces strata.events.v1 as the destination (benchmarks write to a topic of
// their own); "" keeps the default.
func WithTopic(topic string) Option {
	return func(p *Pipeline) {
		if topic != "" {
			p.topic = topic
		}
	}
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(p *Pipeline) { p.log = l } }

// Counter is told how many events each acknowledged batch published and dropped as
// duplicates; *throughput.Counter implements it.
type Counter interface {
	Add(accepted, duplicates int)
}

// WithCounter counts the events of every batch Process accepted in c.
func WithCounter(c Counter) Option { return func(p *Pipeline) { p.counter = c } }

// Pipeline validates and publishes events.
type Pipeline struct {
	pub            publisher
	validator      protovalidate.Validator
	ledger         Ledger
	publishTimeout time.Duration
	log            *slog.Logger
	topic          string
	counter        Counter
}

// New returns a pipeline publishing through pub.
func New(pub publisher, opts ...Option) (*Pipeline, error) {
	v, err := protovalidate.New()
	if err != nil {
		return nil, fmt.Errorf("pipeline: validator: %w", err)
	}
	p := &Pipeline{pub: pub, validator: v, publishTimeout: DefaultPublishTimeout, log: slog.New(slog.DiscardHandler), topic: topics.Events}
	for _, o := range opts {
		o(p)
	}
	return p, nil
}

// Result is the outcome of an accepted batch.
type Result struct {
	// Duplicate[i] reports that events[i] was published before (within the dedup window
	// or earlier in the same batch) and was not published again.
	Duplicate []bool
	// Published counts the events written, merge events excluded.
	Published int
	// Merges counts the identity-merge events written.
	Merges int
}

// Duplicates counts the duplicates.
func (r Result) Duplicates() int {
	n := 0
	for _, d := range r.Duplicate {
		if d {
			n++
		}
	}
	return n
}

// Validate normalises and checks one event against its contract (the protovalidate rules
// of strata.event.v1.Event).
func (p *Pipeline) Validate(ev *eventv1.Event) error {
	Normalise(ev)
	if satisfiesRules(ev) {
		return nil
	}
	if err := p.validator.Validate(ev, skipFreeForm); err != nil {
		if vs, ok := rpcerr.Violations(err); ok {
			return &InvalidError{Violations: vs}
		}
		return fmt.Errorf("pipeline: validate: %w", err)
	}
	return nil
}

// skipFreeForm keeps protovalidate out of google.protobuf.Struct fields (context,
// properties, traits): Struct carries no rules, yet walking every key and value of it
// was most of the cost of validating an event.
var skipFreeForm = protovalidate.WithFilter(protovalidate.FilterFunc(func(_ protoreflect.Message, d protoreflect.Descriptor) bool {
	fd, ok := d.(protoreflect.FieldDescriptor)
	return !ok || fd.Message() == nil || fd.Message().FullName() != structFullName
}))

var structFullName = (&structpb.Struct{}).ProtoReflect().Descriptor().FullName()

// Check normalises and validates every event and returns the invalid ones, indexed by
// position in events; it publishes nothing.
func (p *Pipeline) Check(events []*eventv1.Event) ([]*InvalidError, error) {
	var bad []*InvalidError
	for i, ev := range events {
		err := p.Validate(ev)
		var ie *InvalidError
		switch {
		case err == nil:
		case errors.As(err, &ie):
			ie.Index = i
			bad = append(bad, ie)
		default:
			return nil, err
		}
	}
	return bad, nil
}

// Accept is Process without the result, for callers that need only the verdict.
func (p *Pipeline) Accept(ctx context.Context, events ...*eventv1.Event) error {
	_, err := p.Process(ctx, events)
	return err
}

// Process normalises and validates every event and, when all are valid, publishes the
// new ones (with identity resolved and merge events added) in one write, returning after
// Kafka acknowledged it. It takes ownership of events (they are normalised in place).
//
// Errors: a *RejectedError listing every invalid event (nothing published); an error
// wrapping ErrUnavailable when Redis could not be asked or Kafka did not acknowledge the
// write (the client should retry; events of a failed write may have been stored and are
// then published again, which consumers tolerate).
func (p *Pipeline) Process(ctx context.Context, events []*eventv1.Event) (Result, error) {
	res := Result{Duplicate: make([]bool, len(events))}
	if len(events) == 0 {
		return res, nil
	}
	bad, err := p.Check(events)
	if err != nil {
		return Result{}, err
	}
	if len(bad) > 0 {
		return Result{}, &RejectedError{Events: bad}
	}

	plan, err := p.plan(ctx, events)
	if err != nil {
		return Result{}, err
	}
	out := make([]*eventv1.Event, 0, len(events)+len(plan.merges))
	for i, ev := range events {
		if plan.duplicate[i] {
			res.Duplicate[i] = true
			continue
		}
		out = append(out, ev)
		res.Published++
		out = append(out, plan.merges[i]...)
		res.Merges += len(plan.merges[i])
	}
	if len(out) == 0 {
		p.count(res)
		return res, nil
	}
	msgs, err := p.messages(out)
	if err != nil {
		return Result{}, err
	}
	pctx, cancel := context.WithTimeout(ctx, p.publishTimeout)
	defer cancel()
	if err := p.pub.Publish(pctx, msgs...); err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if p.ledger != nil && !plan.changes.Empty() {
		// The events are in Kafka whatever happens here; the client must hear success.
		if err := p.ledger.Record(context.WithoutCancel(ctx), plan.changes); err != nil {
			p.log.WarnContext(ctx, "pipeline: events published but not recorded in the dedup window", "events", res.Published, "err", err)
		}
	}
	p.count(res)
	return res, nil
}

func (p *Pipeline) count(res Result) {
	if p.counter != nil {
		p.counter.Add(res.Published, res.Duplicates())
	}
}

// plan is what Process publishes and records for a batch.
type plan struct {
	duplicate []bool
	merges    map[int][]*eventv1.Event // merge events to publish right after event i
	changes   ledger.Changes
}

// plan consults the ledger (one round trip) about the batch in order: dedup, identity
// resolution, links and merges, as if the events had arrived one by one.
func (p *Pipeline) plan(ctx context.Context, events []*eventv1.Event) (plan, error) {
	pl := plan{duplicate: make([]bool, len(events)), merges: map[int][]*eventv1.Event{}}
	if p.ledger == nil {
		return pl, nil
	}
	keys := make([]ledger.Key, len(events))
	var ops []ledger.Op
	opOf := make([]int, len(events)) // index in ops of event i's operation, or -1
	for i, ev := range events {
		keys[i] = ledger.Key{Sender: Key(ev), Source: ev.GetSourceId(), MessageID: ev.GetEventId()}
		opOf[i] = -1
		user, anon := ev.GetUserId(), ev.GetAnonymousId()
		var op ledger.Op
		switch {
		case user == "" && anon != "":
			op = ledger.Op{Kind: ledger.OpSeen, Anon: anon}
		case ev.GetType() == eventv1.EventType_EVENT_TYPE_IDENTIFY && anon != "" && anon != user:
			op = ledger.Op{Kind: ledger.OpLink, Anon: anon, User: user}
		case ev.GetType() == eventv1.EventType_EVENT_TYPE_ALIAS && ev.GetPreviousId() != "" && ev.GetPreviousId() != user:
			op = ledger.Op{Kind: ledger.OpLink, Anon: ev.GetPreviousId(), User: user}
		default:
			continue
		}
		opOf[i] = len(ops)
		ops = append(ops, op)
	}
	snap, err := p.ledger.Lookup(ctx, keys, ops)
	if err != nil {
		return plan{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	seen := make(map[ledger.Key]bool, len(events))
	merged := map[ledger.Link]bool{}
	for i, ev := range events {
		k := keys[i]
		if snap.Seen[i] || seen[k] {
			pl.duplicate[i] = true
			continue
		}
		seen[k] = true
		pl.changes.Published = append(pl.changes.Published, k)
		j := opOf[i]
		if j < 0 {
			continue
		}
		switch op := ops[j]; op.Kind {
		case ledger.OpSeen:
			if u := snap.Linked[j]; u != "" {
				ev.UserId = u
			}
		case ledger.OpLink:
			link := ledger.Link{Anon: op.Anon, User: op.User}
			if snap.Merge[j] && !merged[link] {
				merged[link] = true
				trigger := "identify"
				if ev.GetType() == eventv1.EventType_EVENT_TYPE_ALIAS {
					trigger = "alias"
				}
				pl.merges[i] = append(pl.merges[i], mergeEvent(ev, op.Anon, op.User, trigger))
				pl.changes.Merged = append(pl.changes.Merged, link)
			}
		}
	}
	return pl, nil
}

// MergeEventID is the event_id of the merge of anon's history into user: the same for
// every instance that learns the link.
func MergeEventID(anon, user string) string {
	sum := sha256.Sum256([]byte(anon + "\x00" + user))
	return "merge-" + hex.EncodeToString(sum[:16])
}

func mergeEvent(trigger *eventv1.Event, anon, user, kind string) *eventv1.Event {
	return &eventv1.Event{
		EventId:     MergeEventID(anon, user),
		Type:        eventv1.EventType_EVENT_TYPE_TRACK,
		Event:       vocab.IdentityMerged,
		UserId:      user,
		AnonymousId: anon,
		PreviousId:  anon,
		Timestamp:   trigger.GetTimestamp(),
		ReceivedAt:  trigger.GetReceivedAt(),
		SourceId:    trigger.GetSourceId(),
		Properties: &structpb.Struct{Fields: map[string]*structpb.Value{
			"anonymous_id":     structpb.NewStringValue(anon),
			"user_id":          structpb.NewStringValue(user),
			"trigger":          structpb.NewStringValue(kind),
			"trigger_event_id": structpb.NewStringValue(trigger.GetEventId()),
		}},
	}
}

// contentType is the content-type header of every record; shared, never modified.
var contentType = []byte("application/x-protobuf")

// messages encodes events as records. The values, keys and ids of all of them share one
// buffer, and their headers one array: a batch costs a few allocations, not a few per
// event. The producer only reads them, and Publish returns before they are reused.
func (p *Pipeline) messages(events []*eventv1.Event) ([]bus.Message, error) {
	buf := make([]byte, 0, 512*len(events)) // grows when events are larger
	headers := make([]bus.Header, 2*len(events))
	msgs := make([]bus.Message, len(events))
	for i, ev := range events {
		var err error
		start := len(buf)
		if buf, err = appendEvent(buf, ev); err != nil {
			return nil, fmt.Errorf("pipeline: encode event %s: %w", ev.GetEventId(), err)
		}
		value := buf[start:len(buf):len(buf)]
		start = len(buf)
		buf = append(buf, Key(ev)...)
		key := buf[start:len(buf):len(buf)]
		start = len(buf)
		buf = append(buf, ev.GetEventId()...)
		id := buf[start:len(buf):len(buf)]
		h := headers[2*i : 2*i+2 : 2*i+2]
		h[0] = bus.Header{Key: "content-type", Value: contentType}
		h[1] = bus.Header{Key: "strata-event-id", Value: id}
		msgs[i] = bus.Message{Topic: p.topic, Key: key, Value: value, Headers: h}
	}
	return msgs, nil
}

// Normalise trims the ids and names of ev and gives vocabulary event names their
// canonical spelling ("lesson_completed" → "Lesson Completed"); other names are kept as
// custom events. It is idempotent.
func Normalise(ev *eventv1.Event) {
	ev.EventId = strings.TrimSpace(ev.GetEventId())
	ev.UserId = strings.TrimSpace(ev.GetUserId())
	ev.AnonymousId = strings.TrimSpace(ev.GetAnonymousId())
	ev.PreviousId = strings.TrimSpace(ev.GetPreviousId())
	ev.GroupId = strings.TrimSpace(ev.GetGroupId())
	ev.Name = strings.TrimSpace(ev.GetName())
	ev.SourceId = strings.TrimSpace(ev.GetSourceId())
	ev.Event, _ = vocab.Canonical(ev.GetEvent())
}

// Key is the partition key of an event: the user id, else the anonymous id.
func Key(ev *eventv1.Event) string {
	if ev.GetUserId() != "" {
		return ev.GetUserId()
	}
	return ev.GetAnonymousId()
}
