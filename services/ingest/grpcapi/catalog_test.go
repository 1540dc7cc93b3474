package grpcapi

import (
	"context"
	"errors"
	"net"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	ingestv1 "github.com/stratahq/strata/proto/strata/ingest/v1"
	privacyv1 "github.com/stratahq/strata/proto/strata/privacy/v1"
	"github.com/stratahq/strata/services/ingest/catalog"
	"github.com/stratahq/strata/services/ingest/inflight"
	"github.com/stratahq/strata/services/ingest/pipeline"
)

func TestDeleteItems(t *testing.T) {
	t.Parallel()
	s, pub := newServer(t, nil)
	resp, err := s.DeleteItems(t.Context(), &ingestv1.DeleteItemsRequest{ItemIds: []string{"c1", " c2 "}})
	if err != nil {
		t.Fatalf("DeleteItems: %v", err)
	}
	if got, want := resp.GetDeleted(), int32(2); got != want {
		t.Errorf("deleted: got %d, want %d", got, want)
	}
	msgs := pub.Calls()[0]
	for i, want := range []string{"c1", "c2"} {
		if string(msgs[i].Key) != want || msgs[i].Value != nil || msgs[i].Topic != "strata.catalog.v1" {
			t.Errorf("record %d: got key %q value %v topic %s, want a tombstone for %s", i, msgs[i].Key, msgs[i].Value, msgs[i].Topic, want)
		}
		if op, _ := msgs[i].Header(catalog.HeaderOp); op != catalog.OpDelete {
			t.Errorf("record %d %s header: got %q, want %q", i, catalog.HeaderOp, op, catalog.OpDelete)
		}
	}
}

func TestCatalogErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		pubErr   error
		call     func(*Server) error
		wantCode codes.Code
	}{
		{"invalid item", nil, func(s *Server) error {
			_, err := s.UpsertItems(context.Background(), &ingestv1.UpsertItemsRequest{Items: []*eventv1.CatalogItem{{ItemId: "c1"}}})
			return err
		}, codes.InvalidArgument},
		{"blank id", nil, func(s *Server) error {
			_, err := s.DeleteItems(context.Background(), &ingestv1.DeleteItemsRequest{ItemIds: []string{" "}})
			return err
		}, codes.InvalidArgument},
		{"delete unavailable", errors.New("broker down"), func(s *Server) error {
			_, err := s.DeleteItems(context.Background(), &ingestv1.DeleteItemsRequest{ItemIds: []string{"c1"}})
			return err
		}, codes.Unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, _ := newServer(t, tt.pubErr)
			err := tt.call(s)
			if got := status.Code(err); got != tt.wantCode {
				t.Fatalf("code: got %v, want %v (%v)", got, tt.wantCode, err)
			}
			if tt.wantCode == codes.InvalidArgument && len(fieldViolations(t, err)) == 0 {
				t.Errorf("no field violations in %v", err)
			}
		})
	}
}

func TestIngestDuplicate(t *testing.T) {
	t.Parallel()
	s := New(fakeProcessor{}, nil)
	s.proc = dupProcessor{}
	resp, err := s.Ingest(t.Context(), &ingestv1.IngestRequest{Event: event("e1", "u1")})
	if err != nil || !resp.GetDuplicate() {
		t.Errorf("Ingest: got %v, %v; want duplicate", resp, err)
	}
	bresp, err := s.IngestBatch(t.Context(), &ingestv1.IngestBatchRequest{Events: []*eventv1.Event{event("e1", "u1"), event("e2", "u1")}})
	if err != nil || bresp.GetAccepted() != 2 || bresp.GetDuplicates() != 2 {
		t.Errorf("IngestBatch: got %v, %v; want 2 accepted, 2 duplicates", bresp, err)
	}
}

type dupProcessor struct{}

func (dupProcessor) Process(_ context.Context, events []*eventv1.Event) (pipeline.Result, error) {
	res := pipeline.Result{Duplicate: make([]bool, len(events))}
	for i := range res.Duplicate {
		res.Duplicate[i] = true
	}
	return res, nil
}

// blocking holds Process until release is closed.
type blocking struct{ entered, release chan struct{} }

func (b blocking) Process(_ context.Context, events []*eventv1.Event) (pipeline.Result, error) {
	b.entered <- struct{}{}
	<-b.release
	return pipeline.Result{Duplicate: make([]bool, len(events))}, nil
}

// serveGRPC runs s behind the admission interceptor on a loopback listener.
func serveGRPC(t *testing.T, s *Server, l *inflight.Limiter) ingestv1.IngestServiceClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(grpc.ChainUnaryInterceptor(Admission(l)))
	ingestv1.RegisterIngestServiceServer(gs, s)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return ingestv1.NewIngestServiceClient(conn)
}

func retryInfo(t *testing.T, err error) *errdetails.RetryInfo {
	t.Helper()
	for _, d := range status.Convert(err).Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri
		}
	}
	return nil
}

func TestAdmissionIsResourceExhausted(t *testing.T) {
	t.Parallel()
	b := blocking{entered: make(chan struct{}, 1), release: make(chan struct{})}
	client := serveGRPC(t, New(b, nil), inflight.New(1, 1<<20))
	done := make(chan error, 1)
	go func() {
		_, err := client.Ingest(context.Background(), &ingestv1.IngestRequest{Event: event("e1", "u1")})
		done <- err
	}()
	<-b.entered
	var hdr metadata.MD
	_, err := client.Ingest(context.Background(), &ingestv1.IngestRequest{Event: event("e2", "u1")}, grpc.Header(&hdr))
	if got, want := status.Code(err), codes.ResourceExhausted; got != want {
		t.Fatalf("second call: got %v, want %v", got, want)
	}
	if retryInfo(t, err) == nil {
		t.Errorf("second call: no RetryInfo detail in %v", err)
	}
	if got := hdr.Get("retry-after"); len(got) != 1 || got[0] != "1" {
		t.Errorf("retry-after header: got %v, want [1]", got)
	}
	close(b.release)
	if err := <-done; err != nil {
		t.Errorf("admitted call: %v", err)
	}
}

func TestUnavailableCarriesRetryInfo(t *testing.T) {
	t.Parallel()
	client := serveGRPC(t, New(fakeProcessor{err: pipeline.ErrUnavailable}, nil), inflight.New(10, 1<<20))
	var hdr metadata.MD
	_, err := client.IngestBatch(context.Background(), &ingestv1.IngestBatchRequest{Events: []*eventv1.Event{event("e1", "u1")}}, grpc.Header(&hdr))
	if got, want := status.Code(err), codes.Unavailable; got != want {
		t.Fatalf("code: got %v, want %v", got, want)
	}
	if ri := retryInfo(t, err); ri == nil || ri.GetRetryDelay().AsDuration() != RetryAfter {
		t.Errorf("RetryInfo: got %v, want a delay of %v", ri, RetryAfter)
	}
	if got := hdr.Get("retry-after"); len(got) != 1 {
		t.Errorf("retry-after header: got %v, want one value", got)
	}
}

type fakeErasures struct{ err error }

func (f fakeErasures) RequestErasure(_ context.Context, userID, requestID string) (*privacyv1.PrivacyRequest, error) {
	return &privacyv1.PrivacyRequest{UserId: userID, RequestId: requestID}, f.err
}

func TestRequestErasure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		opts     []Option
		wantCode codes.Code
	}{
		{"published", []Option{WithErasures(fakeErasures{})}, codes.OK},
		{"kafka down", []Option{WithErasures(fakeErasures{err: errors.New("broker down")})}, codes.Unavailable},
		{"not configured", nil, codes.Unimplemented},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := New(nil, nil, tt.opts...)
			resp, err := s.RequestErasure(t.Context(), &ingestv1.RequestErasureRequest{UserId: "u1", RequestId: "r1"})
			if got := status.Code(err); got != tt.wantCode {
				t.Fatalf("RequestErasure: got %v (%v), want %v", got, err, tt.wantCode)
			}
			if err == nil && resp.GetRequestId() != "r1" {
				t.Errorf("request id: got %q, want r1", resp.GetRequestId())
			}
		})
	}
}
