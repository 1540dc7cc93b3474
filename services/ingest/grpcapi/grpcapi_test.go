package grpcapi

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/stratahq/strata/pkg/bustest"
	"github.com/stratahq/strata/pkg/rpcerr"
	"github.com/stratahq/strata/pkg/topics"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	ingestv1 "github.com/stratahq/strata/proto/strata/ingest/v1"
	"github.com/stratahq/strata/services/ingest/catalog"
	"github.com/stratahq/strata/services/ingest/pipeline"
)

// fakeProcessor returns err from every Process.
type fakeProcessor struct{ err error }

func (f fakeProcessor) Process(context.Context, []*eventv1.Event) (pipeline.Result, error) {
	return pipeline.Result{}, f.err
}

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// newServer returns a Server over the real pipeline and a fake publisher, with a fixed clock.
func newServer(t *testing.T, pubErr error) (*Server, *bustest.Recorder) {
	t.Helper()
	pub := &bustest.Recorder{Err: pubErr}
	p, err := pipeline.New(pub)
	if err != nil {
		t.Fatalf("pipeline.New: %v", err)
	}
	c, err := catalog.New(pub, catalog.WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatalf("catalog.New: %v", err)
	}
	s := New(p, c)
	s.now = func() time.Time { return now }
	return s, pub
}

func event(id, user string) *eventv1.Event {
	return &eventv1.Event{
		EventId:   id,
		Type:      eventv1.EventType_EVENT_TYPE_TRACK,
		Event:     "Lesson Completed",
		UserId:    user,
		Timestamp: timestamppb.New(now.Add(-time.Minute)),
	}
}

func fieldViolations(t *testing.T, err error) []string {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok {
		t.Fatalf("error %v is not a status", err)
	}
	var fields []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				fields = append(fields, v.GetField())
			}
		}
	}
	return fields
}

func TestIngest(t *testing.T) {
	t.Parallel()
	s, pub := newServer(t, nil)
	in := event("e1", "u1")
	if _, err := s.Ingest(t.Context(), &ingestv1.IngestRequest{Event: in}); err != nil {
		t.Fatalf("Ingest: got %v, want nil", err)
	}
	calls := pub.Calls()
	if got, want := len(calls), 1; got != want {
		t.Fatalf("Publish calls: got %d, want %d", got, want)
	}
	m := calls[0][0]
	if got, want := m.Topic, topics.Events; got != want {
		t.Errorf("topic: got %q, want %q", got, want)
	}
	if got, want := string(m.Key), "u1"; got != want {
		t.Errorf("key: got %q, want %q", got, want)
	}
	got := &eventv1.Event{}
	if err := proto.Unmarshal(m.Value, got); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	if got, want := got.GetReceivedAt().AsTime(), now; !got.Equal(want) {
		t.Errorf("received_at: got %v, want %v", got, want)
	}
	if got, want := got.GetTimestamp().AsTime(), now.Add(-time.Minute); !got.Equal(want) {
		t.Errorf("timestamp: got %v, want %v (the client's is kept)", got, want)
	}
}

func TestIngestStampsMissingTimestamp(t *testing.T) {
	t.Parallel()
	s, pub := newServer(t, nil)
	in := event("e1", "u1")
	in.Timestamp = nil
	if _, err := s.Ingest(t.Context(), &ingestv1.IngestRequest{Event: in}); err != nil {
		t.Fatalf("Ingest: got %v, want nil", err)
	}
	got := &eventv1.Event{}
	if err := proto.Unmarshal(pub.Calls()[0][0].Value, got); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	if got, want := got.GetTimestamp().AsTime(), now; !got.Equal(want) {
		t.Errorf("timestamp: got %v, want %v", got, want)
	}
}

func TestIngestErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		pubErr     error
		ev         *eventv1.Event
		wantCode   codes.Code
		wantFields []string
		wantPubs   int
	}{
		{name: "invalid event", ev: event("", "u1"), wantCode: codes.InvalidArgument, wantFields: []string{"event.event_id"}},
		{name: "publisher down", pubErr: errors.New("broker down"), ev: event("e1", "u1"), wantCode: codes.Unavailable, wantPubs: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, pub := newServer(t, tt.pubErr)
			resp, err := s.Ingest(t.Context(), &ingestv1.IngestRequest{Event: tt.ev})
			if resp != nil {
				t.Errorf("response: got %v, want nil", resp)
			}
			if got := status.Code(err); got != tt.wantCode {
				t.Fatalf("code: got %v, want %v (%v)", got, tt.wantCode, err)
			}
			if tt.wantFields != nil {
				if got := fieldViolations(t, err); strings.Join(got, ",") != strings.Join(tt.wantFields, ",") {
					t.Errorf("field violations: got %v, want %v", got, tt.wantFields)
				}
			}
			if got := len(pub.Calls()); got != tt.wantPubs {
				t.Errorf("Publish calls: got %d, want %d", got, tt.wantPubs)
			}
		})
	}
}

func TestIngestBatch(t *testing.T) {
	t.Parallel()
	s, pub := newServer(t, nil)
	resp, err := s.IngestBatch(t.Context(), &ingestv1.IngestBatchRequest{Events: []*eventv1.Event{
		event("e1", "u1"), event("e2", "u2"), event("e3", "u1"),
	}})
	if err != nil {
		t.Fatalf("IngestBatch: got %v, want nil", err)
	}
	if got, want := resp.GetAccepted(), int32(3); got != want {
		t.Errorf("accepted: got %d, want %d", got, want)
	}
	calls := pub.Calls()
	if got, want := len(calls), 1; got != want {
		t.Fatalf("Publish calls: got %d, want %d", got, want)
	}
	wantKeys := []string{"u1", "u2", "u1"}
	for i, m := range calls[0] {
		if got, want := string(m.Key), wantKeys[i]; got != want {
			t.Errorf("msg %d key: got %q, want %q", i, got, want)
		}
	}
}

func TestIngestBatchErrors(t *testing.T) {
	t.Parallel()
	noTimestampNoID := event("", "u2")
	noTimestampNoID.Timestamp = nil // stamped by the server: only event_id is wrong
	tests := []struct {
		name       string
		pubErr     error
		events     []*eventv1.Event
		wantCode   codes.Code
		wantFields []string
		wantPubs   int
	}{
		{
			name:       "first event invalid",
			events:     []*eventv1.Event{event("", "u1"), event("e2", "u1")},
			wantCode:   codes.InvalidArgument,
			wantFields: []string{"events[0].event_id"},
		},
		{
			name:       "third event invalid",
			events:     []*eventv1.Event{event("e1", "u1"), event("e2", "u1"), noTimestampNoID},
			wantCode:   codes.InvalidArgument,
			wantFields: []string{"events[2].event_id"},
		},
		{
			name:       "message rule violation",
			events:     []*eventv1.Event{event("e1", "u1"), event("e2", "")},
			wantCode:   codes.InvalidArgument,
			wantFields: []string{"events[1].event.identity"},
		},
		{
			name:     "publisher down",
			pubErr:   errors.New("broker down"),
			events:   []*eventv1.Event{event("e1", "u1"), event("e2", "u1")},
			wantCode: codes.Unavailable,
			wantPubs: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, pub := newServer(t, tt.pubErr)
			resp, err := s.IngestBatch(t.Context(), &ingestv1.IngestBatchRequest{Events: tt.events})
			if resp != nil {
				t.Errorf("response: got %v, want nil", resp)
			}
			if got := status.Code(err); got != tt.wantCode {
				t.Fatalf("code: got %v, want %v (%v)", got, tt.wantCode, err)
			}
			if tt.wantFields != nil {
				if got := fieldViolations(t, err); strings.Join(got, ",") != strings.Join(tt.wantFields, ",") {
					t.Errorf("field violations: got %v, want %v", got, tt.wantFields)
				}
			}
			if got := len(pub.Calls()); got != tt.wantPubs {
				t.Errorf("Publish calls: got %d, want %d", got, tt.wantPubs)
			}
		})
	}
}

func TestAcceptorErrorMapping(t *testing.T) {
	t.Parallel()
	invalid := &pipeline.InvalidError{Index: 1, Violations: []rpcerr.FieldViolation{{Field: "user_id", Description: "too long"}}}
	tests := []struct {
		name          string
		err           error
		wantCode      codes.Code
		wantSingle    []string
		wantBatch     []string
		wantNoMessage string // text that must not leak into the status
	}{
		{name: "invalid", err: invalid, wantCode: codes.InvalidArgument, wantSingle: []string{"event.user_id"}, wantBatch: []string{"events[1].user_id"}},
		{name: "wrapped invalid", err: errors.Join(errors.New("ctx"), invalid), wantCode: codes.InvalidArgument, wantSingle: []string{"event.user_id"}, wantBatch: []string{"events[1].user_id"}},
		{name: "unavailable", err: errors.Join(pipeline.ErrUnavailable, errors.New("dial tcp 10.0.0.7:9092")), wantCode: codes.Unavailable, wantNoMessage: "10.0.0.7"},
		{name: "other", err: errors.New("marshal failed"), wantCode: codes.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := New(fakeProcessor{err: tt.err}, nil)
			_, errSingle := s.Ingest(t.Context(), &ingestv1.IngestRequest{Event: event("e1", "u1")})
			_, errBatch := s.IngestBatch(t.Context(), &ingestv1.IngestBatchRequest{Events: []*eventv1.Event{event("e1", "u1"), event("e2", "u1")}})
			for _, c := range []struct {
				call       string
				err        error
				wantFields []string
			}{{"Ingest", errSingle, tt.wantSingle}, {"IngestBatch", errBatch, tt.wantBatch}} {
				if got := status.Code(c.err); got != tt.wantCode {
					t.Errorf("%s code: got %v, want %v", c.call, got, tt.wantCode)
				}
				if c.wantFields != nil {
					if got := fieldViolations(t, c.err); strings.Join(got, ",") != strings.Join(c.wantFields, ",") {
						t.Errorf("%s field violations: got %v, want %v", c.call, got, c.wantFields)
					}
				}
				if tt.wantNoMessage != "" && strings.Contains(status.Convert(c.err).Message(), tt.wantNoMessage) {
					t.Errorf("%s message: got %q, want no %q", c.call, status.Convert(c.err).Message(), tt.wantNoMessage)
				}
			}
		})
	}
}

func TestUpsertItems(t *testing.T) {
	t.Parallel()
	s, pub := newServer(t, nil)
	updated := timestamppb.New(now.Add(-time.Hour))
	items := []*eventv1.CatalogItem{
		{ItemId: "c1", Type: eventv1.ItemType_ITEM_TYPE_COURSE, Title: "Go 进阶", PriceMinor: 19900, Currency: "CNY"},
		{ItemId: "b2", Type: eventv1.ItemType_ITEM_TYPE_AUDIOBOOK, Title: "Audio", UpdatedAt: updated},
	}
	resp, err := s.UpsertItems(t.Context(), &ingestv1.UpsertItemsRequest{Items: items})
	if err != nil {
		t.Fatalf("UpsertItems: got %v, want nil", err)
	}
	if got, want := resp.GetUpserted(), int32(2); got != want {
		t.Errorf("upserted: got %d, want %d", got, want)
	}
	calls := pub.Calls()
	if got, want := len(calls), 1; got != want {
		t.Fatalf("Publish calls: got %d, want %d", got, want)
	}
	if got, want := len(calls[0]), 2; got != want {
		t.Fatalf("messages: got %d, want %d", got, want)
	}
	wantUpdated := []time.Time{now, updated.AsTime()}
	for i, m := range calls[0] {
		if got, want := m.Topic, "strata.catalog.v1"; got != want {
			t.Errorf("msg %d topic: got %q, want %q", i, got, want)
		}
		if got, want := string(m.Key), items[i].GetItemId(); got != want {
			t.Errorf("msg %d key: got %q, want %q", i, got, want)
		}
		got := &eventv1.CatalogItem{}
		if err := proto.Unmarshal(m.Value, got); err != nil {
			t.Fatalf("msg %d: unmarshal: %v", i, err)
		}
		if got.GetItemId() != items[i].GetItemId() || got.GetTitle() != items[i].GetTitle() || got.GetPriceMinor() != items[i].GetPriceMinor() {
			t.Errorf("msg %d value: got %v, want %v", i, got, items[i])
		}
		if got, want := got.GetUpdatedAt().AsTime(), wantUpdated[i]; !got.Equal(want) {
			t.Errorf("msg %d updated_at: got %v, want %v", i, got, want)
		}
	}
	if items[0].GetUpdatedAt() != nil {
		t.Errorf("request item updated_at: got %v, want nil (the request is not mutated)", items[0].GetUpdatedAt())
	}
}

func TestUpsertItemsUnavailable(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, errors.New("broker down"))
	resp, err := s.UpsertItems(t.Context(), &ingestv1.UpsertItemsRequest{Items: []*eventv1.CatalogItem{{ItemId: "c1", Type: eventv1.ItemType_ITEM_TYPE_COURSE, Title: "Go"}}})
	if resp != nil {
		t.Errorf("response: got %v, want nil", resp)
	}
	if got, want := status.Code(err), codes.Unavailable; got != want {
		t.Errorf("code: got %v, want %v", got, want)
	}
}
