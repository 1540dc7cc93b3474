package state_test

import (
	"maps"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	"github.com/stratahq/strata/services/profile/state"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func pos(partition int32, offset int64) *profilev1.Position {
	return &profilev1.Position{Partition: partition, Offset: offset}
}

func track(name string, at time.Time) *eventv1.Event {
	return &eventv1.Event{Type: eventv1.EventType_EVENT_TYPE_TRACK, Event: name, UserId: "u1", Timestamp: timestamppb.New(at)}
}

func call(typ eventv1.EventType, at time.Time) *eventv1.Event {
	return &eventv1.Event{Type: typ, UserId: "u1", Timestamp: timestamppb.New(at)}
}

func TestCountKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ev   *eventv1.Event
		want string
	}{
		{&eventv1.Event{Type: eventv1.EventType_EVENT_TYPE_TRACK, Event: "Order Completed"}, "Order Completed"},
		{&eventv1.Event{Type: eventv1.EventType_EVENT_TYPE_TRACK}, "track"},
		{&eventv1.Event{Type: eventv1.EventType_EVENT_TYPE_IDENTIFY}, "identify"},
		{&eventv1.Event{Type: eventv1.EventType_EVENT_TYPE_PAGE, Name: "Home"}, "page"},
		{&eventv1.Event{Type: eventv1.EventType_EVENT_TYPE_SCREEN}, "screen"},
		{&eventv1.Event{Type: eventv1.EventType_EVENT_TYPE_GROUP}, "group"},
		{&eventv1.Event{Type: eventv1.EventType_EVENT_TYPE_ALIAS}, "alias"},
		{&eventv1.Event{Type: eventv1.EventType_EVENT_TYPE_IDENTIFY, Event: "ignored"}, "identify"},
	}
	for _, tt := range tests {
		if got := state.CountKey(tt.ev); got != tt.want {
			t.Errorf("CountKey(%v): got %q, want %q", tt.ev, got, tt.want)
		}
	}
}

func TestApplyFolds(t *testing.T) {
	t.Parallel()
	events := []*eventv1.Event{
		track("Lesson Started", t0),
		call(eventv1.EventType_EVENT_TYPE_PAGE, t0.Add(2*time.Hour)),
		track("Lesson Started", t0.Add(-3*time.Hour)), // out of order: earliest
		call(eventv1.EventType_EVENT_TYPE_IDENTIFY, t0.Add(time.Hour)),
		track("Order Completed", t0.Add(5*time.Hour)), // latest
		track("Lesson Started", t0.Add(time.Minute)),
		{Type: eventv1.EventType_EVENT_TYPE_TRACK, Event: "No Time", UserId: "u1"}, // no timestamp
	}
	var p *profilev1.Profile
	for i, ev := range events {
		var changed bool
		p, changed = state.Apply(p, "u1", ev, pos(0, int64(10+i)))
		if !changed {
			t.Fatalf("Apply event %d: changed got false, want true", i)
		}
		if got, want := p.GetVersion(), int64(i+1); got != want {
			t.Errorf("after event %d version: got %d, want %d", i, got, want)
		}
		if got, want := p.GetEventsTotal(), int64(i+1); got != want {
			t.Errorf("after event %d events_total: got %d, want %d", i, got, want)
		}
	}
	if got, want := p.GetUserId(), "u1"; got != want {
		t.Errorf("user_id: got %q, want %q", got, want)
	}
	wantCounts := map[string]int64{"Lesson Started": 3, "page": 1, "identify": 1, "Order Completed": 1, "No Time": 1}
	if got := p.GetEventCounts(); !maps.Equal(got, wantCounts) {
		t.Errorf("event_counts: got %v, want %v", got, wantCounts)
	}
	if got, want := p.GetFirstSeen().AsTime(), t0.Add(-3*time.Hour); !got.Equal(want) {
		t.Errorf("first_seen: got %v, want %v", got, want)
	}
	if got, want := p.GetLastSeen().AsTime(), t0.Add(5*time.Hour); !got.Equal(want) {
		t.Errorf("last_seen: got %v, want %v", got, want)
	}
	if got, want := p.GetApplied(), pos(0, 16); !proto.Equal(got, want) {
		t.Errorf("applied: got %v, want %v", got, want)
	}
}

func TestApplySeenTable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                string
		times               []time.Time
		wantFirst, wantLast time.Time
	}{
		{name: "one event", times: []time.Time{t0}, wantFirst: t0, wantLast: t0},
		{name: "in order", times: []time.Time{t0, t0.Add(time.Hour)}, wantFirst: t0, wantLast: t0.Add(time.Hour)},
		{name: "reversed", times: []time.Time{t0.Add(time.Hour), t0}, wantFirst: t0, wantLast: t0.Add(time.Hour)},
		{name: "middle last", times: []time.Time{t0, t0.Add(2 * time.Hour), t0.Add(time.Hour)}, wantFirst: t0, wantLast: t0.Add(2 * time.Hour)},
		{name: "equal", times: []time.Time{t0, t0}, wantFirst: t0, wantLast: t0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var p *profilev1.Profile
			for i, at := range tt.times {
				p, _ = state.Apply(p, "u1", track("X", at), pos(0, int64(i)))
			}
			if got := p.GetFirstSeen().AsTime(); !got.Equal(tt.wantFirst) {
				t.Errorf("first_seen: got %v, want %v", got, tt.wantFirst)
			}
			if got := p.GetLastSeen().AsTime(); !got.Equal(tt.wantLast) {
				t.Errorf("last_seen: got %v, want %v", got, tt.wantLast)
			}
		})
	}
}

func TestApplyDoesNotAliasEventTimestamp(t *testing.T) {
	t.Parallel()
	ev := track("X", t0)
	p, _ := state.Apply(nil, "u1", ev, pos(0, 0))
	ev.Timestamp.Seconds += 3600
	if got, want := p.GetFirstSeen().AsTime(), t0; !got.Equal(want) {
		t.Errorf("first_seen after the event changed: got %v, want %v", got, want)
	}
}

func TestApplyAnonymousIDs(t *testing.T) {
	t.Parallel()
	anon := func(id string) *eventv1.Event {
		ev := track("X", t0)
		ev.AnonymousId = id
		return ev
	}
	var p *profilev1.Profile
	for i, ev := range []*eventv1.Event{anon("a1"), anon("a2"), anon("a1"), anon(""), anon("u1"), anon("a2"), anon("a3")} {
		p, _ = state.Apply(p, "u1", ev, pos(0, int64(i)))
	}
	if got, want := p.GetAnonymousIds(), []string{"a1", "a2", "a3"}; !slices.Equal(got, want) {
		t.Errorf("anonymous_ids: got %v, want %v", got, want)
	}
}

func TestApplyTraits(t *testing.T) {
	t.Parallel()
	identify := func(fields map[string]any) *eventv1.Event {
		ev := call(eventv1.EventType_EVENT_TYPE_IDENTIFY, t0)
		s, err := structpb.NewStruct(fields)
		if err != nil {
			t.Fatalf("structpb: %v", err)
		}
		ev.Traits = s
		return ev
	}
	trackWithTraits := track("X", t0)
	trackWithTraits.Traits, _ = structpb.NewStruct(map[string]any{"city": "ignored"})

	var p *profilev1.Profile
	for i, ev := range []*eventv1.Event{
		identify(map[string]any{"city": "Hangzhou", "age_band": "25-34"}),
		trackWithTraits, // traits only come from identify calls
		identify(map[string]any{"city": "Shanghai", "occupation": "engineer"}),
		identify(map[string]any{}),
	} {
		p, _ = state.Apply(p, "u1", ev, pos(0, int64(i)))
	}
	got := p.GetTraits().AsMap()
	want := map[string]any{"city": "Shanghai", "age_band": "25-34", "occupation": "engineer"}
	if !maps.Equal(got, want) {
		t.Errorf("traits: got %v, want %v", got, want)
	}
}

func TestApplyTraitsOnDecodedEmptyTraits(t *testing.T) {
	t.Parallel()
	// An empty traits struct survives a round trip through Kafka or Redis as a struct
	// without a fields map; merging into it must not panic.
	b, err := proto.Marshal(&profilev1.Profile{UserId: "u1", Traits: &structpb.Struct{Fields: map[string]*structpb.Value{}}})
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	stored := &profilev1.Profile{}
	if err := proto.Unmarshal(b, stored); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	ev := call(eventv1.EventType_EVENT_TYPE_IDENTIFY, t0)
	ev.Traits, _ = structpb.NewStruct(map[string]any{"city": "Beijing"})
	p, changed := state.Apply(stored, "u1", ev, pos(0, 1))
	if !changed {
		t.Fatalf("changed: got false, want true")
	}
	if got, want := p.GetTraits().GetFields()["city"].GetStringValue(), "Beijing"; got != want {
		t.Errorf("traits.city: got %q, want %q", got, want)
	}
}

func TestApplyIdempotent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		first, next *profilev1.Position
		wantChanged bool
	}{
		{name: "same position", first: pos(3, 100), next: pos(3, 100), wantChanged: false},
		{name: "older offset same partition", first: pos(3, 100), next: pos(3, 99), wantChanged: false},
		{name: "offset zero after later", first: pos(0, 5), next: pos(0, 0), wantChanged: false},
		{name: "newer offset same partition", first: pos(3, 100), next: pos(3, 101), wantChanged: true},
		{name: "other partition, lower offset", first: pos(3, 100), next: pos(4, 1), wantChanged: true},
		{name: "other partition, same offset", first: pos(3, 100), next: pos(2, 100), wantChanged: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, changed := state.Apply(nil, "u1", track("X", t0), tt.first)
			if !changed {
				t.Fatalf("first Apply: changed got false, want true")
			}
			before := proto.Clone(p).(*profilev1.Profile)
			p, changed = state.Apply(p, "u1", track("X", t0.Add(time.Hour)), tt.next)
			if changed != tt.wantChanged {
				t.Errorf("changed: got %v, want %v", changed, tt.wantChanged)
			}
			wantCount, wantVersion, wantApplied := int64(1), int64(1), tt.first
			if tt.wantChanged {
				wantCount, wantVersion, wantApplied = 2, 2, tt.next
			}
			if got := p.GetEventCounts()["X"]; got != wantCount {
				t.Errorf("event_counts[X]: got %d, want %d", got, wantCount)
			}
			if got := p.GetEventsTotal(); got != wantCount {
				t.Errorf("events_total: got %d, want %d", got, wantCount)
			}
			if got := p.GetVersion(); got != wantVersion {
				t.Errorf("version: got %d, want %d", got, wantVersion)
			}
			if got := p.GetApplied(); !proto.Equal(got, wantApplied) {
				t.Errorf("applied: got %v, want %v", got, wantApplied)
			}
			if !tt.wantChanged && !proto.Equal(p, before) {
				t.Errorf("profile after an ignored event: got %v, want %v", p, before)
			}
		})
	}
}

func TestApplied(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		p    *profilev1.Profile
		pos  *profilev1.Position
		want bool
	}{
		{name: "nil profile", p: nil, pos: pos(0, 0), want: false},
		{name: "nothing applied", p: &profilev1.Profile{}, pos: pos(0, 0), want: false},
		{name: "same", p: &profilev1.Profile{Applied: pos(1, 7)}, pos: pos(1, 7), want: true},
		{name: "older", p: &profilev1.Profile{Applied: pos(1, 7)}, pos: pos(1, 6), want: true},
		{name: "newer", p: &profilev1.Profile{Applied: pos(1, 7)}, pos: pos(1, 8), want: false},
		{name: "other partition", p: &profilev1.Profile{Applied: pos(1, 7)}, pos: pos(2, 0), want: false},
	}
	for _, tt := range tests {
		if got := state.Applied(tt.p, tt.pos); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestApplyReplayIsDeterministic(t *testing.T) {
	t.Parallel()
	events := []*eventv1.Event{
		track("A", t0), call(eventv1.EventType_EVENT_TYPE_PAGE, t0.Add(time.Hour)), track("B", t0.Add(-time.Hour)),
	}
	fold := func() *profilev1.Profile {
		var p *profilev1.Profile
		for i, ev := range events {
			p, _ = state.Apply(p, "u1", ev, pos(0, int64(i)))
		}
		return p
	}
	a, b := fold(), fold()
	if !proto.Equal(a, b) {
		t.Errorf("replay: got %v, want %v", b, a)
	}
	// Replaying everything onto the folded profile changes nothing.
	for i, ev := range events {
		var changed bool
		if a, changed = state.Apply(a, "u1", ev, pos(0, int64(i))); changed {
			t.Errorf("replay of offset %d: changed got true, want false", i)
		}
	}
	if !proto.Equal(a, b) {
		t.Errorf("after replay: got %v, want %v", a, b)
	}
}
