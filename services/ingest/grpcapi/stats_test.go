package grpcapi

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/stratahq/strata/pkg/bustest"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	ingestv1 "github.com/stratahq/strata/proto/strata/ingest/v1"
	"github.com/stratahq/strata/services/ingest/pipeline"
	"github.com/stratahq/strata/services/ingest/throughput"
)

func TestGetIngestStats(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		pubErr  error
		batches [][]*eventv1.Event
		want    int64 // accepted in the current minute
	}{
		{"nothing yet", nil, nil, 0},
		{"accepted batches", nil, [][]*eventv1.Event{{event("e1", "u1"), event("e2", "u2")}, {event("e3", "u1")}}, 3},
		{"failed publishes count nothing", errors.New("kafka down"), [][]*eventv1.Event{{event("e1", "u1")}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			counts := throughput.New(throughput.WithClock(func() time.Time { return now }))
			p, err := pipeline.New(&bustest.Recorder{Err: tt.pubErr}, pipeline.WithCounter(counts))
			if err != nil {
				t.Fatal(err)
			}
			s := New(p, nil, WithStats(counts, "ingest-0"))
			s.now = func() time.Time { return now }
			for _, b := range tt.batches {
				_, _ = s.IngestBatch(t.Context(), &ingestv1.IngestBatchRequest{Events: b})
			}
			st, err := s.GetIngestStats(t.Context(), &ingestv1.GetIngestStatsRequest{})
			if err != nil {
				t.Fatalf("GetIngestStats: %v", err)
			}
			if st.GetInstance() != "ingest-0" || !st.GetStartedAt().AsTime().Equal(now) {
				t.Errorf("instance, started: got %q %v, want ingest-0 %v", st.GetInstance(), st.GetStartedAt().AsTime(), now)
			}
			m := st.GetMinutes()
			if len(m) != throughput.Window {
				t.Fatalf("minutes: got %d, want %d", len(m), throughput.Window)
			}
			last := m[len(m)-1]
			if got := last.GetAccepted(); got != tt.want {
				t.Errorf("accepted this minute: got %d, want %d", got, tt.want)
			}
			if got, want := last.GetStart().AsTime(), now.Truncate(time.Minute); !got.Equal(want) {
				t.Errorf("current minute starts: got %v, want %v", got, want)
			}
		})
	}
}

func TestGetIngestStatsUnconfigured(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, nil)
	_, err := s.GetIngestStats(t.Context(), &ingestv1.GetIngestStatsRequest{})
	if got, want := status.Code(err), codes.Unimplemented; got != want {
		t.Errorf("code: got %v, want %v", got, want)
	}
}
