package pipeline_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/stratahq/strata/pkg/bustest"
	"github.com/stratahq/strata/pkg/rpcerr"
	"github.com/stratahq/strata/pkg/topics"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	"github.com/stratahq/strata/services/ingest/pipeline"
)

func newPipeline(t *testing.T, pub *bustest.Recorder) *pipeline.Pipeline {
	t.Helper()
	p, err := pipeline.New(pub)
	if err != nil {
		t.Fatalf("pipeline.New: %v", err)
	}
	return p
}

var ts = timestamppb.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))

func validEvent(id, user, anon string) *eventv1.Event {
	return &eventv1.Event{
		EventId:     id,
		Type:        eventv1.EventType_EVENT_TYPE_TRACK,
		Event:       "Lesson Started",
		UserId:      user,
		AnonymousId: anon,
		Timestamp:   ts,
	}
}

func TestAcceptPublishes(t *testing.T) {
	t.Parallel()
	pub := &bustest.Recorder{}
	p := newPipeline(t, pub)
	events := []*eventv1.Event{
		validEvent("e1", "u1", "a1"),
		validEvent("e2", "", "a2"),
		validEvent("e3", "u3", ""),
	}
	if err := p.Accept(t.Context(), events...); err != nil {
		t.Fatalf("Accept: got %v, want nil", err)
	}
	calls := pub.Calls()
	if got, want := len(calls), 1; got != want {
		t.Fatalf("Publish calls: got %d, want %d", got, want)
	}
	msgs := calls[0]
	if got, want := len(msgs), len(events); got != want {
		t.Fatalf("messages: got %d, want %d", got, want)
	}
	wantKeys := []string{"u1", "a2", "u3"}
	for i, m := range msgs {
		if got, want := m.Topic, topics.Events; got != want {
			t.Errorf("msg %d topic: got %q, want %q", i, got, want)
		}
		if got, want := m.Topic, "strata.events.v1"; got != want {
			t.Errorf("msg %d topic: got %q, want %q", i, got, want)
		}
		if got, want := string(m.Key), wantKeys[i]; got != want {
			t.Errorf("msg %d key: got %q, want %q", i, got, want)
		}
		got := &eventv1.Event{}
		if err := proto.Unmarshal(m.Value, got); err != nil {
			t.Fatalf("msg %d value: unmarshal: %v", i, err)
		}
		if !proto.Equal(got, events[i]) {
			t.Errorf("msg %d value: got %v, want %v", i, got, events[i])
		}
		if id, _ := m.Header("strata-event-id"); id != events[i].GetEventId() {
			t.Errorf("msg %d strata-event-id header: got %q, want %q", i, id, events[i].GetEventId())
		}
		if ct, _ := m.Header("content-type"); ct != "application/x-protobuf" {
			t.Errorf("msg %d content-type header: got %q, want %q", i, ct, "application/x-protobuf")
		}
	}
}

func TestAcceptNothing(t *testing.T) {
	t.Parallel()
	pub := &bustest.Recorder{}
	if err := newPipeline(t, pub).Accept(t.Context()); err != nil {
		t.Fatalf("Accept(): got %v, want nil", err)
	}
	if got, want := len(pub.Calls()), 0; got != want {
		t.Errorf("Publish calls: got %d, want %d", got, want)
	}
}

func TestAcceptInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		events    []*eventv1.Event
		wantIndex int
		wantField string
	}{
		{
			name:      "empty event_id",
			events:    []*eventv1.Event{validEvent("", "u1", "")},
			wantIndex: 0,
			wantField: "event_id",
		},
		{
			name: "missing timestamp second in batch",
			events: []*eventv1.Event{validEvent("e1", "u1", ""), func() *eventv1.Event {
				ev := validEvent("e2", "u1", "")
				ev.Timestamp = nil
				return ev
			}()},
			wantIndex: 1,
			wantField: "timestamp",
		},
		{
			name: "unspecified type",
			events: []*eventv1.Event{validEvent("e1", "u1", ""), validEvent("e2", "u1", ""), func() *eventv1.Event {
				ev := validEvent("e3", "u1", "")
				ev.Type = eventv1.EventType_EVENT_TYPE_UNSPECIFIED
				return ev
			}()},
			wantIndex: 2,
			wantField: "type",
		},
		{
			name: "event_id too long",
			events: []*eventv1.Event{func() *eventv1.Event {
				return validEvent(strings.Repeat("x", 129), "u1", "")
			}()},
			wantIndex: 0,
			wantField: "event_id",
		},
		{
			name:      "no identity",
			events:    []*eventv1.Event{validEvent("e1", "", "")},
			wantIndex: 0,
			wantField: "event.identity",
		},
		{
			name: "track without name",
			events: []*eventv1.Event{func() *eventv1.Event {
				ev := validEvent("e1", "u1", "")
				ev.Event = ""
				return ev
			}()},
			wantIndex: 0,
			wantField: "event.track_name",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pub := &bustest.Recorder{}
			err := newPipeline(t, pub).Accept(t.Context(), tt.events...)
			var ie *pipeline.InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("error: got %v (%T), want *pipeline.InvalidError", err, err)
			}
			if got, want := ie.Index, tt.wantIndex; got != want {
				t.Errorf("index: got %d, want %d", got, want)
			}
			var fields []string
			for _, v := range ie.Violations {
				fields = append(fields, v.Field)
			}
			if !slices.Contains(fields, tt.wantField) {
				t.Errorf("violation fields: got %v, want one named %q", fields, tt.wantField)
			}
			if !strings.Contains(err.Error(), tt.wantField) {
				t.Errorf("error text: got %q, want it to name %q", err.Error(), tt.wantField)
			}
			if errors.Is(err, pipeline.ErrUnavailable) {
				t.Errorf("errors.Is(err, ErrUnavailable): got true, want false")
			}
			if got, want := len(pub.Calls()), 0; got != want {
				t.Errorf("Publish calls: got %d, want %d", got, want)
			}
		})
	}
}

func TestAcceptPublisherError(t *testing.T) {
	t.Parallel()
	errBroker := errors.New("broker down")
	pub := &bustest.Recorder{Err: errBroker}
	err := newPipeline(t, pub).Accept(t.Context(), validEvent("e1", "u1", ""))
	if !errors.Is(err, pipeline.ErrUnavailable) {
		t.Errorf("errors.Is(err, ErrUnavailable): got false for %v, want true", err)
	}
	if !errors.Is(err, errBroker) {
		t.Errorf("errors.Is(err, errBroker): got false for %v, want true", err)
	}
	var ie *pipeline.InvalidError
	if errors.As(err, &ie) {
		t.Errorf("errors.As(err, *InvalidError): got true, want false")
	}
	if got, want := len(pub.Calls()), 1; got != want {
		t.Errorf("Publish calls: got %d, want %d", got, want)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	p := newPipeline(t, &bustest.Recorder{})
	if err := p.Validate(validEvent("e1", "u1", "")); err != nil {
		t.Errorf("Validate(valid): got %v, want nil", err)
	}
	var ie *pipeline.InvalidError
	if err := p.Validate(validEvent("", "u1", "")); !errors.As(err, &ie) {
		t.Errorf("Validate(invalid): got %v, want *InvalidError", err)
	}
}

func TestKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		user, anon, want string
	}{
		{"u1", "a1", "u1"},
		{"u1", "", "u1"},
		{"", "a1", "a1"},
		{"", "", ""},
	}
	for _, tt := range tests {
		if got := pipeline.Key(&eventv1.Event{UserId: tt.user, AnonymousId: tt.anon}); got != tt.want {
			t.Errorf("Key(user %q, anon %q): got %q, want %q", tt.user, tt.anon, got, tt.want)
		}
	}
}

func TestInvalidErrorString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  *pipeline.InvalidError
		want string
	}{
		{&pipeline.InvalidError{Index: 3}, "event 3 is invalid"},
		{&pipeline.InvalidError{Index: 1, Violations: []rpcerr.FieldViolation{{Field: "event_id", Description: "is required"}, {Field: "type"}}}, "event 1: event_id: is required"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}
