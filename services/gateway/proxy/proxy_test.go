package proxy_test

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	recommendationv1 "github.com/stratahq/strata/proto/strata/recommendation/v1"
	"github.com/stratahq/strata/services/gateway/proxy"
)

// backend answers Recommend with a fixed list of ten items.
type backend struct {
	recommendationv1.UnimplementedRecommendationServiceServer
	resp *recommendationv1.RecommendResponse
}

func (b *backend) Recommend(_ context.Context, req *recommendationv1.RecommendRequest) (*recommendationv1.RecommendResponse, error) {
	if req.GetUserId() == "" {
		return nil, status.Error(codes.InvalidArgument, "no user")
	}
	return b.resp, nil
}

func tenItems() *recommendationv1.RecommendResponse {
	resp := &recommendationv1.RecommendResponse{Variant: "ease", Source: "cache", ModelVersion: "1795769502180"}
	for i := range 10 {
		resp.Items = append(resp.Items, &recommendationv1.Recommendation{
			ItemId: "i0000" + string(rune('0'+i)), Score: 1 / float64(i+1), Reason: "because you completed 深入浅出 Go 并发编程",
		})
	}
	return resp
}

// admitAll admits every call; needsResponse answers ResponseWatcher when set.
type admitAll struct{ finished chan proto.Message }

func (a admitAll) Admit(ctx context.Context, _ string, _ proto.Message) (context.Context, func(proto.Message, error), error) {
	return ctx, func(resp proto.Message, _ error) {
		if a.finished != nil {
			a.finished <- resp
		}
	}, nil
}

type watchNone struct{ admitAll }

func (watchNone) NeedsResponse(string) bool { return false }

type watchAll struct{ admitAll }

func (watchAll) NeedsResponse(string) bool { return true }

func serve(t testing.TB, register func(*grpc.Server), opts ...grpc.ServerOption) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(opts...)
	register(srv)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

func dial(t testing.TB, addr string) *grpc.ClientConn {
	t.Helper()
	c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// gateway starts a backend and a router in front of it and returns a connection to the
// router.
func gateway(t testing.TB, admit proxy.Admitter, resp *recommendationv1.RecommendResponse) *grpc.ClientConn {
	t.Helper()
	be := serve(t, func(s *grpc.Server) { recommendationv1.RegisterRecommendationServiceServer(s, &backend{resp: resp}) })
	router, err := proxy.NewRouter(map[string]grpc.ClientConnInterface{
		recommendationv1.RecommendationService_ServiceDesc.ServiceName: dial(t, be),
	}, admit)
	if err != nil {
		t.Fatal(err)
	}
	gw := serve(t, func(*grpc.Server) {}, grpc.UnknownServiceHandler(router.Handle))
	return dial(t, gw)
}

func TestRouterForwardsResponses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		admit func(admitAll) proxy.Admitter
		// typed: finish sees the generated response type.
		typed bool
	}{
		{"admitter without ResponseWatcher", func(a admitAll) proxy.Admitter { return a }, true},
		{"watcher that needs the response", func(a admitAll) proxy.Admitter { return watchAll{a} }, true},
		{"watcher that does not: bytes pass through", func(a admitAll) proxy.Admitter { return watchNone{a} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			want := tenItems()
			a := admitAll{finished: make(chan proto.Message, 1)}
			client := recommendationv1.NewRecommendationServiceClient(gateway(t, tt.admit(a), want))
			got, err := client.Recommend(t.Context(), &recommendationv1.RecommendRequest{UserId: "u1", N: 10})
			if err != nil {
				t.Fatalf("Recommend: %v", err)
			}
			if !proto.Equal(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
			seen := <-a.finished
			if _, typed := seen.(*recommendationv1.RecommendResponse); typed != tt.typed {
				t.Errorf("finish got a %T, want typed %v", seen, tt.typed)
			}
			if !tt.typed {
				raw, err := proto.Marshal(seen)
				if err != nil {
					t.Fatal(err)
				}
				var back recommendationv1.RecommendResponse
				if err := proto.Unmarshal(raw, &back); err != nil || !proto.Equal(&back, want) {
					t.Errorf("opaque response decodes to %v (err %v), want %v", &back, err, want)
				}
			}
		})
	}
}

func TestRouterRejectsUnroutedMethods(t *testing.T) {
	t.Parallel()
	tests := []struct {
		method string
		want   codes.Code
	}{
		{"/strata.recommendation.v1.RecommendationService/NoSuchMethod", codes.Unimplemented},
		{"/strata.profile.v1.ProfileService/GetProfile", codes.Unimplemented},
		{"/nomethod", codes.Unimplemented},
	}
	gw := gateway(t, admitAll{}, tenItems())
	for _, tt := range tests {
		err := gw.Invoke(t.Context(), tt.method, &emptypb.Empty{}, &emptypb.Empty{})
		if got := status.Code(err); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.method, got, tt.want)
		}
	}
}

// BenchmarkRouterRecommend measures the gateway's forwarding path for Recommend over
// loopback gRPC (client → router → fake backend answering ten items, all in this
// process): decode, admit, validate, re-encode, forward, and the response back.
// "typed" decodes and re-encodes the response; "passthrough" forwards its bytes.
func BenchmarkRouterRecommend(b *testing.B) {
	for _, bc := range []struct {
		name  string
		admit proxy.Admitter
	}{
		{"typed", admitAll{}},
		{"passthrough", watchNone{}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			client := recommendationv1.NewRecommendationServiceClient(gateway(b, bc.admit, tenItems()))
			req := &recommendationv1.RecommendRequest{UserId: "u0000042", N: 10, Scene: recommendationv1.Scene_SCENE_HOME}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := client.Recommend(context.Background(), req); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
