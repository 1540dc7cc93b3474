package load

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	ingestv1 "github.com/stratahq/strata/proto/strata/ingest/v1"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	recommendationv1 "github.com/stratahq/strata/proto/strata/recommendation/v1"
)

func TestRefusesNonLoopback(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, http, grpc string
		want             error
	}{
		{"private IPv4 URL", "http://10.0.0.1:8080", "", ErrNotLoopback},
		{"public IPv4 URL", "http://8.8.8.8", "", ErrNotLoopback},
		{"host name URL", "https://example.com", "", ErrNotLoopback},
		{"private gRPC address", "", "192.168.1.10:9090", ErrNotLoopback},
		{"IPv6 gRPC address", "", "[2001:db8::1]:9090", ErrNotLoopback},
		{"host name gRPC address", "", "example.com:9090", ErrNotLoopback},
		{"unspecified address", "", "0.0.0.0:9090", ErrNotLoopback},
		{"127.0.0.1", "http://127.0.0.1:8080", "", nil},
		{"127.0.0.0/8", "", "127.1.2.3:9090", nil},
		{"localhost", "http://localhost:8080/", "", nil},
		{"::1", "", "[::1]:9090", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := Config{HTTP: tt.http, GRPC: tt.grpc, Rate: 10, Count: 1}
			if err := cfg.Validate(); !errors.Is(err, tt.want) {
				t.Errorf("Validate: got %v, want %v", err, tt.want)
			}
			if tt.want == nil {
				return
			}
			// Run refuses too, before it dials anything.
			rep, err := Run(context.Background(), cfg)
			if !errors.Is(err, ErrNotLoopback) || rep != nil || !strings.Contains(err.Error(), "loopback") {
				t.Errorf("Run: got %v, %v; want a clear loopback error and no report", rep, err)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	ok := Config{HTTP: "http://127.0.0.1:1", Rate: 1, Duration: time.Second}
	tests := []struct {
		name string
		mod  func(*Config)
		want error
	}{
		{"ok", func(*Config) {}, nil},
		{"no target", func(c *Config) { c.HTTP = "" }, ErrNoTarget},
		{"two targets", func(c *Config) { c.GRPC = "127.0.0.1:2" }, ErrNoTarget},
		{"no rate", func(c *Config) { c.Rate = 0 }, ErrInvalidRate},
		{"unbounded", func(c *Config) { c.Duration = 0 }, ErrUnbounded},
		{"unknown op", func(c *Config) { c.Op = "delete" }, ErrUnknownOp},
		{"negative batch", func(c *Config) { c.Batch = -1 }, ErrInvalidNumber},
	}
	for _, tt := range tests {
		cfg := ok
		tt.mod(&cfg)
		if got := cfg.Validate(); !errors.Is(got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

// segmentCounter counts requests and events of a fake Segment API; every failEvery-th
// request gets 503.
type segmentCounter struct {
	requests, events, failed atomic.Int64
	failEvery                int64
	mu                       sync.Mutex
	paths                    map[string]int
	auth                     map[string]int
}

func (s *segmentCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := s.requests.Add(1)
	s.mu.Lock()
	s.paths[strings.SplitN(r.URL.Path, "/u", 2)[0]]++
	if u, _, ok := r.BasicAuth(); ok {
		s.auth["basic "+u]++
	} else {
		s.auth[r.Header.Get("Authorization")]++
	}
	s.mu.Unlock()
	if s.failEvery > 0 && n%s.failEvery == 0 {
		s.failed.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if r.URL.Path == "/v1/batch" {
		body, _ := io.ReadAll(r.Body)
		var b struct{ Batch []map[string]any }
		if err := json.Unmarshal(body, &b); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		s.events.Add(int64(len(b.Batch)))
	}
	_, _ = io.WriteString(w, `{"success":true}`)
}

func TestHTTPCounts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                     string
		cfg                      Config
		failEvery                int64
		wantRequests, wantEvents int64
		wantPath, wantAuth       string
	}{
		{"track in batches", Config{Op: Track, Batch: 10, Count: 1000, Rate: 20000, WriteKey: "wk"}, 0, 100, 1000, "/v1/batch", "basic wk"},
		{"track with a partial last batch", Config{Op: Track, Batch: 10, Count: 995, Rate: 20000, WriteKey: "wk"}, 0, 100, 995, "/v1/batch", "basic wk"},
		{"track with 503s", Config{Op: Track, Batch: 5, Count: 400, Rate: 20000, WriteKey: "wk"}, 4, 80, 300, "/v1/batch", "basic wk"},
		{"profile", Config{Op: Profile, Count: 150, Rate: 5000, APIKey: "ak"}, 0, 150, 0, "/api/v1", "Bearer ak"},
		{"recommend bounded by duration", Config{Op: Recommend, Duration: 250 * time.Millisecond, Rate: 200, APIKey: "ak"}, 0, 50, 0, "/api/v1", "Bearer ak"},
		{"health", Config{Op: Health, Count: 120, Rate: 5000, APIKey: "ak"}, 0, 120, 0, "/livez", "Bearer ak"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := &segmentCounter{failEvery: tt.failEvery, paths: map[string]int{}, auth: map[string]int{}}
			ts := httptest.NewServer(srv)
			defer ts.Close()
			cfg := tt.cfg
			cfg.HTTP = ts.URL
			rep, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := srv.requests.Load(); got != tt.wantRequests {
				t.Errorf("server saw %d requests, want %d", got, tt.wantRequests)
			}
			if got := srv.events.Load(); got != tt.wantEvents {
				t.Errorf("server saw %d events, want %d", got, tt.wantEvents)
			}
			if rep.Sent != tt.wantRequests || rep.OK+rep.Errors != tt.wantRequests {
				t.Errorf("report: sent %d, ok %d, errors %d; want %d requests in all", rep.Sent, rep.OK, rep.Errors, tt.wantRequests)
			}
			if got := rep.ErrorsByKind["http_503"]; got != srv.failed.Load() || rep.Errors != got {
				t.Errorf("report: %d http_503 of %d errors, want %d", got, rep.Errors, srv.failed.Load())
			}
			if tt.cfg.Op == Track && rep.OKOperations != tt.wantEvents {
				t.Errorf("report: %d ok events, want %d", rep.OKOperations, tt.wantEvents)
			}
			if srv.paths[tt.wantPath] != int(tt.wantRequests) || srv.auth[tt.wantAuth] != int(tt.wantRequests) {
				t.Errorf("paths %v, auth %v: want every request to %s with %s", srv.paths, srv.auth, tt.wantPath, tt.wantAuth)
			}
			if rep.OK > 0 && (rep.Latency.P50 <= 0 || rep.Latency.P50 > rep.Latency.P99 || rep.Latency.P99 > rep.Latency.Max) {
				t.Errorf("latency %+v: want 0 < p50 ≤ p99 ≤ max", rep.Latency)
			}
			var text, js bytes.Buffer
			if err := rep.WriteText(&text); err != nil || !strings.Contains(text.String(), "p99") {
				t.Errorf("text report %q (%v): want the percentiles", text.String(), err)
			}
			if err := rep.WriteJSON(&js); err != nil || !json.Valid(js.Bytes()) {
				t.Errorf("JSON report %q (%v): want valid JSON", js.String(), err)
			}
		})
	}
}

func TestOverload(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		<-release
	}))
	defer ts.Close()
	// The one request allowed in flight is held until the schedule is over, so every
	// later one finds the bound reached: open loop, they are dropped, not queued.
	go func() {
		time.Sleep(300 * time.Millisecond)
		close(release)
	}()
	rep, err := Run(context.Background(), Config{Op: Profile, HTTP: ts.URL, Rate: 1000, Count: 50, MaxInFlight: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests != 50 || rep.OK+rep.ErrorsByKind["overload"] != 50 || rep.ErrorsByKind["overload"] == 0 {
		t.Errorf("report %+v: want 50 requests, the ones beyond the in-flight bound counted as overload", rep)
	}
}

// fakeGateway answers the gRPC calls load makes and counts them.
type fakeGateway struct {
	ingestv1.UnimplementedIngestServiceServer
	profilev1.UnimplementedProfileServiceServer
	recommendationv1.UnimplementedRecommendationServiceServer
	calls, events atomic.Int64
	tokens        sync.Map
}

func (f *fakeGateway) count(ctx context.Context) {
	f.calls.Add(1)
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		f.tokens.Store(v, true)
	}
}

func (f *fakeGateway) IngestBatch(ctx context.Context, r *ingestv1.IngestBatchRequest) (*ingestv1.IngestBatchResponse, error) {
	f.count(ctx)
	f.events.Add(int64(len(r.GetEvents())))
	return &ingestv1.IngestBatchResponse{Accepted: int32(len(r.GetEvents()))}, nil
}

func (f *fakeGateway) GetProfile(ctx context.Context, r *profilev1.GetProfileRequest) (*profilev1.Profile, error) {
	f.count(ctx)
	if strings.HasSuffix(r.GetUserId(), "0") {
		return nil, status.Error(codes.NotFound, "no profile")
	}
	return &profilev1.Profile{UserId: r.GetUserId()}, nil
}

func (f *fakeGateway) Recommend(ctx context.Context, _ *recommendationv1.RecommendRequest) (*recommendationv1.RecommendResponse, error) {
	f.count(ctx)
	return &recommendationv1.RecommendResponse{}, nil
}

func TestGRPCCounts(t *testing.T) {
	t.Parallel()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fake := &fakeGateway{}
	srv := grpc.NewServer()
	ingestv1.RegisterIngestServiceServer(srv, fake)
	profilev1.RegisterProfileServiceServer(srv, fake)
	recommendationv1.RegisterRecommendationServiceServer(srv, fake)
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	base := Config{GRPC: lis.Addr().String(), Rate: 10000, APIKey: "ak", Users: 100}
	runOp := func(op Operation, batch int, count int64) *Report {
		t.Helper()
		cfg := base
		cfg.Op, cfg.Batch, cfg.Count = op, batch, count
		rep, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	rep := runOp(Track, 25, 1000)
	if rep.OK != 40 || fake.events.Load() != 1000 {
		t.Errorf("track: %d ok calls, server saw %d events; want 40 calls, 1000 events", rep.OK, fake.events.Load())
	}
	rep = runOp(Profile, 0, 300)
	// The user ids spread over u0000001…u0000100; those ending in 0 have no profile.
	if rep.OK+rep.ErrorsByKind["grpc_NotFound"] != 300 || rep.ErrorsByKind["grpc_NotFound"] == 0 {
		t.Errorf("profile: %d ok, errors %v; want 300 answers, some grpc_NotFound", rep.OK, rep.ErrorsByKind)
	}
	rep = runOp(Recommend, 0, 200)
	if rep.OK != 200 {
		t.Errorf("recommend: %d ok, errors %v; want 200", rep.OK, rep.ErrorsByKind)
	}
	// Health is asked of the gateway itself; an answer of any status counts as ok.
	rep = runOp(Health, 0, 100)
	if rep.OK != 100 {
		t.Errorf("health: %d ok, errors %v; want 100", rep.OK, rep.ErrorsByKind)
	}
	if got := fake.calls.Load(); got != 540 {
		t.Errorf("server saw %d calls, want 540", got)
	}
	if _, ok := fake.tokens.Load("Bearer ak"); !ok {
		t.Error("calls carried no Bearer ak")
	}
}

func TestWorkersBoundAndReuse(t *testing.T) {
	t.Parallel()
	const limit = 4
	var running, peak, done atomic.Int64
	w := newWorkers(limit, func(job) {
		n := running.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(time.Millisecond)
		running.Add(-1)
		done.Add(1)
	})
	accepted := 0
	for k := range 200 {
		if w.submit(job{k: int64(k)}) {
			accepted++
		}
	}
	w.wait()
	if got := done.Load(); got != int64(accepted) || accepted == 0 {
		t.Errorf("ran %d jobs, want the %d accepted", got, accepted)
	}
	if p := peak.Load(); p > limit {
		t.Errorf("%d jobs ran at once, want at most %d", p, limit)
	}
	if w.started > limit {
		t.Errorf("started %d goroutines, want at most %d", w.started, limit)
	}
}
