package pipeline_test

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/stratahq/strata/pkg/bustest"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	"github.com/stratahq/strata/services/ingest/pipeline"
	"github.com/stratahq/strata/services/ingest/segment"
)

// FuzzValidate decodes a Segment message and validates the event against its contract:
// neither may panic, validation only ever fails with an *InvalidError naming a field,
// normalising twice changes nothing, and a valid event is published as encoded bytes
// that decode to the event. Seeds are in testdata/fuzz/FuzzValidate.
func FuzzValidate(f *testing.F) {
	f.Add([]byte(`{"type":"track","event":"lesson_completed","userId":" u1 ","messageId":"m1"}`))
	f.Add([]byte(`{"type":"alias","previousId":"a1","userId":"u1","messageId":"` + string(make([]byte, 200)) + `"}`))
	p, err := pipeline.New(&bustest.Recorder{})
	if err != nil {
		f.Fatal(err)
	}
	received := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, err := segment.Decode(raw, "", -1, received, "", nil)
		if err != nil {
			return
		}
		err = p.Validate(ev)
		var ie *pipeline.InvalidError
		if err != nil && (!errors.As(err, &ie) || len(ie.Violations) == 0 || ie.Violations[0].Field == "") {
			t.Fatalf("Validate: got %v (%T), want nil or an *InvalidError naming a field", err, err)
		}
		again := proto.CloneOf(ev)
		pipeline.Normalise(again)
		if !proto.Equal(again, ev) {
			t.Fatalf("Normalise is not idempotent: %v then %v", ev, again)
		}
		if err != nil {
			return
		}
		rec := &bustest.Recorder{}
		pub, err := pipeline.New(rec)
		if err != nil {
			t.Fatal(err)
		}
		if err := pub.Accept(t.Context(), again); err != nil {
			t.Fatalf("Accept of a valid event: %v", err)
		}
		got := &eventv1.Event{}
		if err := proto.Unmarshal(rec.Messages()[0].Value, got); err != nil || !proto.Equal(got, again) {
			t.Fatalf("published %v (%v), want %v", got, err, again)
		}
	})
}
