package pipeline

import (
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
)

// nested returns a Struct nesting depth levels of objects and lists.
func nested(depth int) *structpb.Struct {
	s := &structpb.Struct{Fields: map[string]*structpb.Value{"leaf": structpb.NewNumberValue(1)}}
	for i := range depth - 1 {
		if i%2 == 0 {
			s = &structpb.Struct{Fields: map[string]*structpb.Value{"o": structpb.NewStructValue(s)}}
		} else {
			l := &structpb.ListValue{Values: []*structpb.Value{structpb.NewStructValue(s), structpb.NewNullValue()}}
			s = &structpb.Struct{Fields: map[string]*structpb.Value{"l": structpb.NewListValue(l)}}
		}
	}
	return s
}

func TestAppendEvent(t *testing.T) {
	t.Parallel()
	all := &structpb.Struct{Fields: map[string]*structpb.Value{
		"null": structpb.NewNullValue(), "num": structpb.NewNumberValue(-12.5), "inf": structpb.NewNumberValue(math.Inf(1)),
		"zero": structpb.NewNumberValue(0), "str": structpb.NewStringValue("课程 ✓"), "empty": structpb.NewStringValue(""),
		"t": structpb.NewBoolValue(true), "f": structpb.NewBoolValue(false),
		"obj":       structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{"a": structpb.NewStringValue("b")}}),
		"emptyobj":  structpb.NewStructValue(&structpb.Struct{}),
		"nilobj":    {Kind: &structpb.Value_StructValue{}},
		"list":      structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{structpb.NewNumberValue(1), structpb.NewStringValue("x"), {}}}),
		"emptylist": structpb.NewListValue(&structpb.ListValue{}),
		"nilvalue":  nil,
		"nokind":    {},
		"":          structpb.NewStringValue("empty key"),
		"long":      structpb.NewStringValue(strings.Repeat("x", 70000)),
	}}
	base := func() *eventv1.Event {
		return &eventv1.Event{EventId: "e1", Type: eventv1.EventType_EVENT_TYPE_TRACK, Event: "X", UserId: "u1",
			Timestamp: timestamppb.Now(), SourceId: "web", Order: &eventv1.Order{OrderId: "o1", RevenueMinor: 100}}
	}
	tests := []struct {
		name  string
		setup func(*eventv1.Event)
	}{
		{"no free-form fields", func(*eventv1.Event) {}},
		{"every kind", func(ev *eventv1.Event) { ev.Properties = all }},
		{"all three", func(ev *eventv1.Event) { ev.Context, ev.Properties, ev.Traits = all, nested(3), &structpb.Struct{} }},
		{"at the direct encoder's depth", func(ev *eventv1.Event) { ev.Traits = nested(maxEncodeDepth) }},
		{"deeper: through proto", func(ev *eventv1.Event) { ev.Traits = nested(3 * maxEncodeDepth) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev := base()
			tt.setup(ev)
			prefix := []byte("prefix")
			buf, err := appendEvent(prefix, ev)
			if err != nil {
				t.Fatalf("appendEvent: %v", err)
			}
			if got := string(buf[:len(prefix)]); got != "prefix" {
				t.Errorf("prefix: got %q, want it kept", got)
			}
			got := &eventv1.Event{}
			if err := proto.Unmarshal(buf[len(prefix):], got); err != nil {
				t.Fatalf("unmarshal: %v", err)
			}
			if !proto.Equal(got, ev) {
				t.Errorf("round trip: got %v, want %v", got, ev)
			}
			if size := proto.Size(ev); len(buf)-len(prefix) != size {
				t.Errorf("encoded size: got %d, want %d (proto.Size)", len(buf)-len(prefix), size)
			}
		})
	}
}

func TestAppendEventInvalidUTF8(t *testing.T) {
	t.Parallel()
	for _, s := range []*structpb.Struct{
		{Fields: map[string]*structpb.Value{"k": structpb.NewStringValue("\xff")}},
		{Fields: map[string]*structpb.Value{"\xff": structpb.NewNullValue()}},
	} {
		ev := &eventv1.Event{EventId: "e1", Properties: s}
		if _, err := appendEvent(nil, ev); err == nil {
			t.Errorf("appendEvent(%v): got nil error, want one (proto.Marshal refuses it too)", s)
		}
	}
}
