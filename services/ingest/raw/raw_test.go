package raw_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/rpcerr"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	"github.com/stratahq/strata/services/ingest/catalog"
	"github.com/stratahq/strata/services/ingest/pipeline"
	"github.com/stratahq/strata/services/ingest/raw"
)

// fakeProcessor records events and fails the first failures calls with err.
type fakeProcessor struct {
	mu       sync.Mutex
	err      error
	failures int
	calls    int
	events   []*eventv1.Event
}

func (f *fakeProcessor) Process(_ context.Context, events []*eventv1.Event) (pipeline.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.calls <= f.failures {
		return pipeline.Result{}, f.err
	}
	f.events = append(f.events, events...)
	return pipeline.Result{Duplicate: make([]bool, len(events))}, nil
}

type fakeCatalog struct {
	upserted []*eventv1.CatalogItem
	deleted  []string
	err      error
}

func (f *fakeCatalog) Upsert(_ context.Context, items []*eventv1.CatalogItem) error {
	f.upserted = append(f.upserted, items...)
	return f.err
}

func (f *fakeCatalog) Delete(_ context.Context, ids []string) error {
	f.deleted = append(f.deleted, ids...)
	return f.err
}

var at = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func record(value string, headers ...bus.Header) bus.Message {
	return bus.Message{Topic: "strata.events.raw.v1", Value: []byte(value), Headers: headers, Time: at, Partition: 2, Offset: 7}
}

func TestHandle(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		msg        bus.Message
		wantEvents []string // event ids
		wantSource string
	}{
		{"single message", record(`{"type":"track","event":"Lesson Started","userId":"u1","messageId":"m1"}`), []string{"m1"}, raw.DefaultSource},
		{"batch", record(`{"batch":[{"type":"identify","userId":"u1","messageId":"m1"},{"type":"page","anonymousId":"a1","messageId":"m2"}]}`), []string{"m1", "m2"}, raw.DefaultSource},
		{"source header", record(`{"type":"track","event":"X","userId":"u1","messageId":"m1"}`, bus.Header{Key: raw.HeaderSource, Value: []byte(" crm ")}), []string{"m1"}, "crm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			proc := &fakeProcessor{}
			if err := raw.New(proc, &fakeCatalog{}, nil).Handle(t.Context(), tt.msg); err != nil {
				t.Fatalf("Handle: %v", err)
			}
			var ids []string
			for _, ev := range proc.events {
				ids = append(ids, ev.GetEventId())
				if ev.GetSourceId() != tt.wantSource {
					t.Errorf("source: got %q, want %q", ev.GetSourceId(), tt.wantSource)
				}
				if !ev.GetReceivedAt().AsTime().Equal(at) {
					t.Errorf("received_at: got %v, want the record time %v", ev.GetReceivedAt().AsTime(), at)
				}
			}
			if strings.Join(ids, ",") != strings.Join(tt.wantEvents, ",") {
				t.Errorf("events: got %v, want %v", ids, tt.wantEvents)
			}
		})
	}
}

func TestHandlePermanent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, value, wantInReason string
	}{
		{"not JSON", `hello`, "not a JSON object"},
		{"array", `[1]`, "not a JSON object"},
		{"malformed", `{"type":`, "malformed JSON"},
		{"invalid message", `{"type":"track","userId":"u1"}`, "event"},
		{"every bad message named", `{"batch":[{"type":"purchase","userId":"u"},{"type":"track","event":"X","userId":"u"},{"type":"identify"}]}`, "batch[0].type: unknown type \"purchase\" (want track, identify, page, screen, group or alias); batch[2].userId"},
		{"empty batch", `{"batch":[]}`, "batch"},
		{"catalog without items", `{"type":"catalog.upsert"}`, "items"},
		{"catalog bad item JSON", `{"type":"catalog.upsert","items":[{"itemId":3}]}`, "items[0]"},
		{"catalog delete without ids", `{"type":"catalog.delete","itemIds":[]}`, "itemIds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			proc := &fakeProcessor{}
			err := raw.New(proc, &fakeCatalog{}, nil).Handle(t.Context(), record(tt.value))
			if !bus.IsPermanent(err) || !errors.Is(err, raw.ErrInvalid) {
				t.Fatalf("Handle: got %v, want a permanent ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.wantInReason) {
				t.Errorf("reason: got %q, want it to contain %q", err.Error(), tt.wantInReason)
			}
			if len(proc.events) != 0 {
				t.Errorf("processed %d events, want none", len(proc.events))
			}
		})
	}
}

func TestHandleCatalog(t *testing.T) {
	t.Parallel()
	cat := &fakeCatalog{}
	h := raw.New(&fakeProcessor{}, cat, nil)
	if err := h.Handle(t.Context(), record(`{"type":"catalog.upsert","items":[{"itemId":"c1","type":"ITEM_TYPE_COURSE","title":"Go","price_minor":"100","tags":["go"]}]}`)); err != nil {
		t.Fatalf("upsert: %v", err)
	}
	if err := h.Handle(t.Context(), record(`{"type":"Catalog.Delete","itemIds":["c1","c2"]}`)); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if len(cat.upserted) != 1 || cat.upserted[0].GetPriceMinor() != 100 || cat.upserted[0].GetTags()[0] != "go" {
		t.Errorf("upserted: got %v", cat.upserted)
	}
	if strings.Join(cat.deleted, ",") != "c1,c2" {
		t.Errorf("deleted: got %v, want [c1 c2]", cat.deleted)
	}
	bad := &fakeCatalog{err: &catalog.InvalidError{Violations: []rpcerr.FieldViolation{{Field: "items[0].title", Description: "required"}}}}
	if err := raw.New(&fakeProcessor{}, bad, nil).Handle(t.Context(), record(`{"type":"catalog.upsert","items":[{"itemId":"c1"}]}`)); !bus.IsPermanent(err) || !strings.Contains(err.Error(), "items[0].title") {
		t.Errorf("invalid item: got %v, want a permanent error naming items[0].title", err)
	}
}

func TestHandleRetriesUnavailable(t *testing.T) {
	t.Parallel()
	proc := &fakeProcessor{err: pipeline.ErrUnavailable, failures: 2}
	err := raw.New(proc, &fakeCatalog{}, nil).Handle(t.Context(), record(`{"type":"track","event":"X","userId":"u1"}`))
	if err != nil {
		t.Fatalf("Handle: got %v, want success after the outage", err)
	}
	if proc.calls != 3 || len(proc.events) != 1 {
		t.Errorf("calls %d, events %d: want 3 and 1", proc.calls, len(proc.events))
	}

	// When the consumer stops during an outage the error is returned, not dead-lettered.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	stuck := &fakeProcessor{err: pipeline.ErrUnavailable, failures: 1 << 30}
	err = raw.New(stuck, &fakeCatalog{}, nil).Handle(ctx, record(`{"type":"track","event":"X","userId":"u1"}`))
	if !errors.Is(err, pipeline.ErrUnavailable) || bus.IsPermanent(err) {
		t.Errorf("Handle while stopping: got %v, want the transient ErrUnavailable", err)
	}
}

func TestHandleBatch(t *testing.T) {
	t.Parallel()
	msgs := []bus.Message{
		record(`{"type":"track","event":"Lesson Started","userId":"u1","messageId":"m1"}`),
		record(`{"batch":[{"type":"identify","userId":"u2","messageId":"m2"},{"type":"page","anonymousId":"a1","messageId":"m3"}]}`),
		record(`{"type":"catalog.delete","itemIds":["c1"]}`),
		record(`{"type":"track","event":"X","userId":"u3","messageId":"m4"}`, bus.Header{Key: raw.HeaderSource, Value: []byte("crm")}),
		record(`{"type":"track","event":"Y","userId":"u3","messageId":"m5"}`),
	}
	proc, cat := &fakeProcessor{}, &fakeCatalog{}
	if err := raw.New(proc, cat, nil).HandleBatch(t.Context(), msgs); err != nil {
		t.Fatalf("HandleBatch: %v", err)
	}
	var ids []string
	for _, ev := range proc.events {
		ids = append(ids, ev.GetEventId()+"@"+ev.GetSourceId())
	}
	if got, want := strings.Join(ids, ","), "m1@kafka,m2@kafka,m3@kafka,m4@crm,m5@kafka"; got != want {
		t.Errorf("events: got %s, want %s", got, want)
	}
	// The events before the catalog change go in one call, those after it in another.
	if proc.calls != 2 || len(cat.deleted) != 1 {
		t.Errorf("got %d pipeline calls and deletes %v, want 2 calls around the delete of c1", proc.calls, cat.deleted)
	}
}

func TestHandleBatchWithAnInvalidRecordPublishesNothing(t *testing.T) {
	t.Parallel()
	msgs := []bus.Message{
		record(`{"type":"track","event":"Lesson Started","userId":"u1","messageId":"m1"}`),
		record(`{"type":"track","event":"X","messageId":"no-user"}`),
		record(`{"type":"track","event":"Y","userId":"u3","messageId":"m3"}`),
	}
	proc := &fakeProcessor{}
	err := raw.New(proc, &fakeCatalog{}, nil).HandleBatch(t.Context(), msgs)
	if !bus.IsPermanent(err) || !errors.Is(err, raw.ErrInvalid) {
		t.Fatalf("HandleBatch: got %v, want the bad record's permanent ErrInvalid (the consumer then re-runs the batch record by record)", err)
	}
	if proc.calls != 0 {
		t.Errorf("pipeline called %d times, want none before every record decoded", proc.calls)
	}
}
