package grpcapi

import (
	"context"
	"net"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	ingestv1 "github.com/stratahq/strata/proto/strata/ingest/v1"
	"github.com/stratahq/strata/services/ingest/inflight"
)

// TestAdmissionWeighsTheReceivedSize: with RequestSizes installed, a call weighs the
// request size gRPC received, not a walk of the decoded message.
func TestAdmissionWeighsTheReceivedSize(t *testing.T) {
	t.Parallel()
	sizes := RequestSizes()
	received := func(n int) context.Context {
		ctx := sizes.TagRPC(context.Background(), &stats.RPCTagInfo{})
		sizes.HandleRPC(ctx, &stats.InPayload{Length: n})
		return ctx
	}
	admit := Admission(inflight.New(10, 1000))
	info := &grpc.UnaryServerInfo{FullMethod: "/" + ingestv1.IngestService_ServiceDesc.ServiceName + "/IngestBatch"}
	// An empty request: proto.Size would weigh it 0.
	req := &ingestv1.IngestBatchRequest{}

	entered, release := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		_, err := admit(received(600), req, info, func(context.Context, any) (any, error) {
			close(entered)
			<-release
			return nil, nil
		})
		first <- err
	}()
	<-entered
	_, err := admit(received(600), req, info, func(context.Context, any) (any, error) { return nil, nil })
	if got, want := status.Code(err), codes.ResourceExhausted; got != want {
		t.Errorf("second call of 600 bytes while 600 of 1000 are held: got %v, want %v", got, want)
	}
	_, err = admit(received(300), req, info, func(context.Context, any) (any, error) { return nil, nil })
	if err != nil {
		t.Errorf("call of 300 bytes while 600 of 1000 are held: got %v, want admitted", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Errorf("first call: %v", err)
	}
}

// TestRequestSizesBeforeInterceptors: a real server reports the received message to
// RequestSizes before its interceptors run, with the size proto.Size gives.
func TestRequestSizesBeforeInterceptors(t *testing.T) {
	t.Parallel()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan [2]int64, 1)
	spy := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		var got int64
		if n, ok := ctx.Value(requestSizeKey{}).(*atomic.Int64); ok {
			got = n.Load()
		}
		seen <- [2]int64{got, int64(proto.Size(req.(proto.Message)))}
		return next(ctx, req)
	}
	gs := grpc.NewServer(grpc.StatsHandler(RequestSizes()), grpc.ChainUnaryInterceptor(spy))
	ingestv1.RegisterIngestServiceServer(gs, New(fakeProcessor{}, nil))
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	req := &ingestv1.IngestBatchRequest{Events: []*eventv1.Event{event("e1", "u1"), event("e2", "u2")}}
	if _, err := ingestv1.NewIngestServiceClient(conn).IngestBatch(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	got := <-seen
	if got[0] != got[1] || got[0] == 0 {
		t.Errorf("size seen by the interceptor: got %d, want %d (proto.Size)", got[0], got[1])
	}
}
