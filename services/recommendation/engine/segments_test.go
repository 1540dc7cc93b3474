package engine

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/topics"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	recommendationv1 "github.com/stratahq/strata/proto/strata/recommendation/v1"
)

// segment delivers a strata.segments.v1 event.
func (f *fixture) segment(user, segmentID string, enter bool) {
	f.t.Helper()
	typ := profilev1.SegmentEventType_SEGMENT_EVENT_TYPE_EXIT
	if enter {
		typ = profilev1.SegmentEventType_SEGMENT_EVENT_TYPE_ENTER
	}
	b, err := proto.Marshal(&profilev1.SegmentEvent{UserId: user, SegmentId: segmentID, Type: typ})
	if err != nil {
		f.t.Fatalf("marshal: %v", err)
	}
	if err := f.eng.Handle(f.t.Context(), bus.Message{Topic: topics.Segments, Key: []byte(user), Value: b}); err != nil {
		f.t.Fatalf("Handle segment: %v", err)
	}
}

// definition delivers a strata.segment-definitions.v1 message: a definition, or a
// tombstone when name is empty.
func (f *fixture) definition(id, name string) {
	f.t.Helper()
	msg := bus.Message{Topic: topics.SegmentDefinitions, Key: []byte(id)}
	if name != "" {
		b, err := proto.Marshal(&profilev1.Segment{SegmentId: id, Name: name, Rule: "true"})
		if err != nil {
			f.t.Fatalf("marshal: %v", err)
		}
		msg.Value = b
	}
	if err := f.eng.Handle(f.t.Context(), msg); err != nil {
		f.t.Fatalf("Handle segment definition: %v", err)
	}
}

func TestSegments(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{EASE: easeLambda(1)})
	world(f)
	// The odd users (art buyers) are the artists; u00, a go learner, joins them too, and a
	// go learner who left does not count.
	for u := 1; u < 12; u += 2 {
		f.segment(fmt.Sprintf("u%02d", u), "artists", true)
	}
	f.segment("u02", "artists", true)
	f.segment("u02", "artists", false)
	f.segment("u00", "artists", true)
	f.segment("newbie", "artists", true)
	f.definition("other", "Night owls")
	f.definition("other", "") // deleted
	f.definition("artists", "Budding artists")
	f.train()

	pop := f.eng.Popular(t.Context(), "artists", 4)
	for _, it := range pop.GetItems() {
		if !strings.HasPrefix(it.GetItemId(), "a") && !strings.HasPrefix(it.GetItemId(), "g") {
			t.Errorf("Popular(artists): got %v", ids(pop))
		}
		if it.GetReason() != "popular with learners in Budding artists" {
			t.Errorf("Popular(artists): reason %q, want popular with learners in Budding artists (its name)", it.GetReason())
		}
	}
	if ids(pop)[0][0] != 'a' {
		t.Errorf("Popular(artists): got %v, want art items first", ids(pop))
	}
	if got := f.eng.Popular(t.Context(), "nobody-here", 3); len(got.GetItems()) != 3 || strings.Contains(got.GetItems()[0].GetReason(), "learners in") {
		t.Errorf("Popular(unknown segment): got %v, want the global list", got.GetItems())
	}

	// A new user in the segment: what the segment likes.
	got := f.recommend(&recommendationv1.RecommendRequest{UserId: "newbie", N: 3})
	if got.GetSource() != SourceSegment || got.GetItems()[0].GetReason() != "popular with learners in Budding artists" || ids(got)[0][0] != 'a' {
		t.Errorf("new user in artists: got %v from %s, want art items popular with learners in artists", got.GetItems(), got.GetSource())
	}
	// A go learner in the segment: art items the models would not give get boosted in.
	got = f.recommend(&recommendationv1.RecommendRequest{UserId: "u00", N: 10})
	var boosted bool
	for _, it := range got.GetItems() {
		boosted = boosted || (it.GetItemId()[0] == 'a' && it.GetReason() == "popular with learners in Budding artists")
	}
	if !boosted {
		t.Errorf("u00 in artists: got %v, want art items popular with learners in artists", got.GetItems())
	}
	// u02 left the segment: no segment reasons.
	for _, it := range f.recommend(&recommendationv1.RecommendRequest{UserId: "u02", N: 10}).GetItems() {
		if strings.Contains(it.GetReason(), "learners in") {
			t.Errorf("u02 left artists but got %v", it)
		}
	}
	if err := f.eng.Handle(t.Context(), bus.Message{Topic: topics.Segments, Key: []byte("x"), Value: []byte{0xff}}); !bus.IsPermanent(err) {
		t.Errorf("undecodable segment event: got %v, want a permanent error", err)
	}
	// A renamed segment: lists computed from now on say so; the stored names are what a
	// restarted engine loads.
	f.definition("artists", "Artists")
	if got := f.eng.Popular(t.Context(), "artists", 1); got.GetItems()[0].GetReason() != "popular with learners in Artists" {
		t.Errorf("Popular(artists) after a rename: got %v, want the new name", got.GetItems())
	}
	names, err := f.eng.store.SegmentNames(t.Context())
	if err != nil || len(names) != 1 || names["artists"] != "Artists" {
		t.Errorf("stored segment names: got %v, %v; want artists only", names, err)
	}
}
