package pipeline_test

import (
	"context"
	"strconv"
	"testing"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/bustest"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	"github.com/stratahq/strata/services/ingest/pipeline"
)

func benchEvents(n int) []*eventv1.Event {
	props, _ := structpb.NewStruct(map[string]any{"course_id": "c-1", "minutes": 12, "progress": 0.5, "tags": []any{"go", "kafka"}})
	ctx, _ := structpb.NewStruct(map[string]any{"library": map[string]any{"name": "analytics-go", "version": "3.3.0"}})
	evs := make([]*eventv1.Event, n)
	for i := range evs {
		evs[i] = validEvent("m-"+strconv.Itoa(i), "user-"+strconv.Itoa(i), "")
		evs[i].Properties, evs[i].Context, evs[i].ReceivedAt, evs[i].SentAt = props, ctx, ts, ts
	}
	return evs
}

// BenchmarkValidate measures normalising and validating one event with properties and
// context.
func BenchmarkValidate(b *testing.B) {
	p, err := pipeline.New(&bustest.Recorder{})
	if err != nil {
		b.Fatal(err)
	}
	ev := benchEvents(1)[0]
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Validate(ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProcess measures Process of a 100-event batch without a ledger, publishing to
// a recorder: the CPU cost of validation and encoding per batch.
func BenchmarkProcess(b *testing.B) {
	p, err := pipeline.New(discard{})
	if err != nil {
		b.Fatal(err)
	}
	evs := benchEvents(100)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Process(context.Background(), evs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "events/s")
}

type discard struct{}

func (discard) Publish(context.Context, ...bus.Message) error { return nil }
