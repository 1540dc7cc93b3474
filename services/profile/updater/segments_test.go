package updater_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/bustest"
	"github.com/stratahq/strata/pkg/topics"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	predictionv1 "github.com/stratahq/strata/proto/strata/prediction/v1"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	"github.com/stratahq/strata/services/profile/segment"
	"github.com/stratahq/strata/services/profile/state"
	"github.com/stratahq/strata/services/profile/store"
	"github.com/stratahq/strata/services/profile/store/storetest"
	"github.com/stratahq/strata/services/profile/updater"
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

type fixture struct {
	t      *testing.T
	store  *store.Store
	reg    *segment.Registry
	pub    *bustest.Recorder
	clock  *clock
	u      *updater.Updater
	offset int64
}

var day0 = time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)

func newFixture(t *testing.T, segments map[string]string) *fixture {
	t.Helper()
	s, _ := storetest.Embedded(t)
	c, err := segment.NewCompiler()
	if err != nil {
		t.Fatal(err)
	}
	reg := segment.NewRegistry(c)
	for id, rule := range segments {
		if _, err := reg.Put(&profilev1.Segment{SegmentId: id, Rule: rule, Version: 1}); err != nil {
			t.Fatalf("segment %s: %v", id, err)
		}
	}
	f := &fixture{t: t, store: s, reg: reg, pub: &bustest.Recorder{}, clock: &clock{t: day0}}
	f.u = updater.New(s, f.pub, updater.WithClock(f.clock.Now), updater.WithSegments(reg, s), updater.WithErasures(s))
	return f
}

// send handles an event for user at the next offset of partition 0, at the clock's time.
func (f *fixture) send(user, name string, props map[string]any) bus.Message {
	f.t.Helper()
	ps, err := structpb.NewStruct(props)
	if err != nil {
		f.t.Fatal(err)
	}
	f.offset++
	ev := &eventv1.Event{EventId: fmt.Sprintf("e%d", f.offset), Type: eventv1.EventType_EVENT_TYPE_TRACK, Event: name,
		UserId: user, Timestamp: timestamppb.New(f.clock.Now()), Properties: ps}
	return f.handle(user, topics.Events, ev)
}

func (f *fixture) handle(user, topic string, m proto.Message) bus.Message {
	f.t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		f.t.Fatal(err)
	}
	msg := bus.Message{Topic: topic, Key: []byte(user), Value: b, Partition: 0, Offset: f.offset}
	if err := f.u.Handle(context.Background(), msg); err != nil {
		f.t.Fatalf("Handle: %v", err)
	}
	return msg
}

// segmentEvents returns the segment events published since the last call, as
// "ENTER:segment" or "EXIT:segment".
func (f *fixture) segmentEvents(seen *int) []string {
	var out []string
	msgs := f.pub.Messages()
	for _, m := range msgs[*seen:] {
		if m.Topic != topics.Segments {
			continue
		}
		e := &profilev1.SegmentEvent{}
		if err := proto.Unmarshal(m.Value, e); err != nil {
			f.t.Fatal(err)
		}
		typ := "ENTER"
		if e.GetType() == profilev1.SegmentEventType_SEGMENT_EVENT_TYPE_EXIT {
			typ = "EXIT"
		}
		out = append(out, typ+":"+e.GetSegmentId())
	}
	*seen = len(msgs)
	return out
}

func TestSegmentsEnterAndExit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string]string{
		"learners": `p.aggregates.d7.lessons_completed >= 2 && p.aggregates.d7.learning_minutes > 20`,
		"buyers":   `p.aggregates.lifetime.orders > 0`,
		"at-risk":  `p.lifecycle.stage == "at_risk"`,
		"churny":   `has(p.predictions) && p.predictions.churn_risk > 0.5`,
	})
	seen := 0
	steps := []struct {
		name    string
		at      time.Time
		do      func()
		want    []string
		wantIn  []string
		version int64
	}{
		{"first lesson", day0, func() { f.send("u1", state.EventLessonCompleted, map[string]any{"minutes": 15}) }, nil, nil, 1},
		{"second lesson", day0.Add(time.Hour), func() { f.send("u1", state.EventLessonCompleted, map[string]any{"minutes": 10}) },
			[]string{"ENTER:learners"}, []string{"learners"}, 2},
		{"order", day0.Add(2 * time.Hour), func() { f.send("u1", state.EventOrderCompleted, map[string]any{"revenue": 99}) },
			[]string{"ENTER:buyers"}, []string{"buyers", "learners"}, 3},
		{"prediction", day0.Add(3 * time.Hour), func() {
			f.offset++
			f.handle("u1", topics.Predictions, &predictionv1.Prediction{UserId: "u1", ChurnRisk: 0.8, ScoredAt: timestamppb.New(day0)})
		}, []string{"ENTER:churny"}, []string{"buyers", "churny", "learners"}, 4},
		// Twenty days later, the lessons left the 7-day window and the user is at risk.
		{"back after 20 days", day0.AddDate(0, 0, 20), func() { f.send("u1", state.EventItemFavorited, nil) },
			[]string{"EXIT:learners"}, []string{"buyers", "churny"}, 5},
	}
	for _, st := range steps {
		f.clock.Set(st.at)
		st.do()
		got := f.segmentEvents(&seen)
		slices.Sort(got)
		if !slices.Equal(got, st.want) {
			t.Errorf("%s: segment events got %v, want %v", st.name, got, st.want)
		}
		in, err := f.store.Memberships(context.Background(), "u1")
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(in)
		if !slices.Equal(in, st.wantIn) {
			t.Errorf("%s: memberships got %v, want %v", st.name, in, st.wantIn)
		}
		p, err := f.store.Get(context.Background(), "u1")
		if err != nil {
			t.Fatal(err)
		}
		if p.GetVersion() != st.version {
			t.Errorf("%s: version got %d, want %d", st.name, p.GetVersion(), st.version)
		}
		if segs := slices.Sorted(slices.Values(p.GetSegments())); !slices.Equal(segs, st.wantIn) {
			t.Errorf("%s: profile.segments got %v, want %v", st.name, segs, st.wantIn)
		}
		for _, id := range st.wantIn {
			if ids, _, _, _ := f.store.Members(context.Background(), id, "", 10); !slices.Equal(ids, []string{"u1"}) {
				t.Errorf("%s: members of %s got %v, want [u1]", st.name, id, ids)
			}
		}
	}
}

func TestSegmentEventsNotRepeatedOnRedelivery(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string]string{"any-lesson": `p.aggregates.lifetime.lessons_started > 0`})
	msg := f.send("u1", state.EventLessonStarted, nil)
	for range 3 {
		if err := f.u.Handle(context.Background(), msg); err != nil {
			t.Fatalf("redelivery: %v", err)
		}
	}
	seen := 0
	if got := f.segmentEvents(&seen); !slices.Equal(got, []string{"ENTER:any-lesson"}) {
		t.Errorf("segment events: got %v, want one ENTER:any-lesson", got)
	}
	var changelog int
	for _, m := range f.pub.Messages() {
		if m.Topic == topics.Profiles {
			changelog++
		}
	}
	if changelog != 1 {
		t.Errorf("changelog records: got %d, want 1", changelog)
	}
}

func TestSegmentEventsSurviveAFailedPublish(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string]string{"any-lesson": `p.aggregates.lifetime.lessons_started > 0`})
	// The changelog write succeeds, then Kafka fails for the segment event: the handler
	// fails, and its redelivery publishes the queued event.
	f.pub.SetErr(nil)
	ps, _ := structpb.NewStruct(nil)
	ev := &eventv1.Event{EventId: "e1", Type: eventv1.EventType_EVENT_TYPE_TRACK, Event: state.EventLessonStarted, UserId: "u1",
		Timestamp: timestamppb.New(day0), Properties: ps}
	b, _ := proto.Marshal(ev)
	msg := bus.Message{Topic: topics.Events, Key: []byte("u1"), Value: b, Offset: 1}
	failing := &failAfter{n: 1, Recorder: f.pub}
	u := updater.New(f.store, failing, updater.WithClock(f.clock.Now), updater.WithSegments(f.reg, f.store))
	if err := u.Handle(context.Background(), msg); err == nil {
		t.Fatal("Handle with the segment publish failing: got nil, want an error")
	}
	if err := u.Handle(context.Background(), msg); err != nil {
		t.Fatalf("redelivery: %v", err)
	}
	seen := 0
	if got := f.segmentEvents(&seen); !slices.Equal(got, []string{"ENTER:any-lesson"}) {
		t.Errorf("segment events: got %v, want [ENTER:any-lesson]", got)
	}
}

// failAfter lets n publishes through, fails the next one, then lets everything through.
type failAfter struct {
	mu sync.Mutex
	n  int
	*bustest.Recorder
}

func (f *failAfter) Publish(ctx context.Context, msgs ...bus.Message) error {
	f.mu.Lock()
	f.n--
	fail := f.n == -1
	f.mu.Unlock()
	if fail {
		return fmt.Errorf("kafka down")
	}
	return f.Recorder.Publish(ctx, msgs...)
}

func TestAliasMergesAnonymousHistory(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.send("anon-7", state.EventLessonCompleted, map[string]any{"minutes": 12})
	f.send("anon-7", state.EventLessonCompleted, map[string]any{"minutes": 8})
	f.send("u1", state.EventLessonCompleted, map[string]any{"minutes": 5})
	alias := &eventv1.Event{EventId: "a1", Type: eventv1.EventType_EVENT_TYPE_ALIAS, UserId: "u1", PreviousId: "anon-7", Timestamp: timestamppb.New(day0)}
	f.offset++
	msg := f.handle("u1", topics.Events, alias)
	// A redelivery and a resent alias change nothing more.
	if err := f.u.Handle(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	resent := proto.CloneOf(alias)
	resent.EventId = "a2"
	f.offset++
	f.handle("u1", topics.Events, resent)

	p, err := f.store.Get(context.Background(), "u1")
	if err != nil {
		t.Fatal(err)
	}
	lt := p.GetAggregates().GetLifetime()
	if lt.GetLessonsCompleted() != 3 || lt.GetLearningMinutes() != 25 {
		t.Errorf("merged lifetime: got %d lessons %v minutes, want 3 and 25", lt.GetLessonsCompleted(), lt.GetLearningMinutes())
	}
	if !slices.Equal(p.GetMergedIds(), []string{"anon-7"}) {
		t.Errorf("merged_ids: got %v, want [anon-7]", p.GetMergedIds())
	}
}

// TestSegmentEventsIndependentOfBatches checks that a batch emits the enter/exit events
// of handling its messages one at a time: a user who enters and leaves a segment within
// one batch gets both events, whether the batch holds one message or all of them.
func TestSegmentEventsIndependentOfBatches(t *testing.T) {
	t.Parallel()
	rule := map[string]string{"spenders": `p.aggregates.lifetime.revenue_minor > 5000`}
	history := []struct {
		name    string
		revenue float64
	}{
		{state.EventOrderCompleted, 80},
		{state.EventOrderRefunded, 60},
		{state.EventOrderCompleted, 90},
	}
	events := func(batch int) []string {
		f := newFixture(t, rule)
		var msgs []bus.Message
		for i, h := range history {
			ps, err := structpb.NewStruct(map[string]any{"revenue": h.revenue})
			if err != nil {
				t.Fatal(err)
			}
			ev := &eventv1.Event{EventId: fmt.Sprintf("e%d", i), Type: eventv1.EventType_EVENT_TYPE_TRACK, Event: h.name,
				UserId: "u1", Timestamp: timestamppb.New(day0.Add(time.Duration(i) * time.Minute)), Properties: ps}
			b, err := proto.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			msgs = append(msgs, bus.Message{Topic: topics.Events, Key: []byte("u1"), Value: b, Offset: int64(i)})
		}
		for chunk := range slices.Chunk(msgs, batch) {
			if err := f.u.HandleBatch(t.Context(), chunk); err != nil {
				t.Fatalf("HandleBatch: %v", err)
			}
		}
		seen := 0
		return f.segmentEvents(&seen)
	}
	want := []string{"ENTER:spenders", "EXIT:spenders", "ENTER:spenders"}
	for _, batch := range []int{1, 2, len(history)} {
		if got := events(batch); !slices.Equal(got, want) {
			t.Errorf("batches of %d: got segment events %v, want %v", batch, got, want)
		}
	}
}
