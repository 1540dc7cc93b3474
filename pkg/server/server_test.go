package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"buf.build/go/protovalidate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/emptypb"
)

// The pkg module does not depend on the proto module, so the tests build a request type
// with protovalidate rules at run time: strata.servertest.v1.GetThingRequest, whose
// user_id needs at least one character.
var thingRequest = func() protoreflect.MessageDescriptor {
	opts := &descriptorpb.FieldOptions{}
	proto.SetExtension(opts, validate.E_Field, validate.FieldRules_builder{
		String: validate.StringRules_builder{MinLen: proto.Uint64(1), MaxLen: proto.Uint64(256)}.Build(),
	}.Build())
	fdp := &descriptorpb.FileDescriptorProto{
		Name:       proto.String("strata/servertest/v1/servertest.proto"),
		Package:    proto.String("strata.servertest.v1"),
		Syntax:     proto.String("proto3"),
		Dependency: []string{validate.File_buf_validate_validate_proto.Path()},
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("GetThingRequest"),
			Field: []*descriptorpb.FieldDescriptorProto{{
				Name:     proto.String("user_id"),
				JsonName: proto.String("userId"),
				Number:   proto.Int32(1),
				Label:    descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
				Type:     descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum(),
				Options:  opts,
			}},
		}},
	}
	fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
	if err != nil {
		panic(err)
	}
	return fd.Messages().ByName("GetThingRequest")
}()

func newThingRequest(userID string) *dynamicpb.Message {
	m := dynamicpb.NewMessage(thingRequest)
	if userID != "" {
		m.Set(thingRequest.Fields().ByName("user_id"), protoreflect.ValueOfString(userID))
	}
	return m
}

const (
	thingService = "strata.servertest.v1.Things"
	getThing     = "/" + thingService + "/Get"
	panicThing   = "/" + thingService + "/Panic"
)

// registerThings registers a test service: Get echoes an empty response for a
// GetThingRequest; Panic panics. calls counts handler runs.
func registerThings(s *Server, calls *atomic.Int32) {
	unary := func(method string, newReq func() proto.Message, h func(context.Context, any) (any, error)) grpc.MethodDesc {
		return grpc.MethodDesc{
			MethodName: method,
			Handler: func(_ any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
				req := newReq()
				if err := dec(req); err != nil {
					return nil, err
				}
				info := &grpc.UnaryServerInfo{FullMethod: "/" + thingService + "/" + method}
				return interceptor(ctx, req, info, h)
			},
		}
	}
	s.GRPC().RegisterService(&grpc.ServiceDesc{
		ServiceName: thingService,
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{
			unary("Get", func() proto.Message { return dynamicpb.NewMessage(thingRequest) }, func(context.Context, any) (any, error) {
				calls.Add(1)
				return &emptypb.Empty{}, nil
			}),
			unary("Panic", func() proto.Message { return &emptypb.Empty{} }, func(context.Context, any) (any, error) {
				calls.Add(1)
				panic("boom")
			}),
		},
	}, struct{}{})
}

type testServer struct {
	*Server
	httpURL string
	conn    *grpc.ClientConn
	calls   atomic.Int32
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func localListener(t *testing.T) net.Listener {
	t.Helper()
	var lc net.ListenConfig
	l, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	return l
}

// newTestServer builds a Server on 127.0.0.1:0 listeners with the test service and a
// gRPC client; nothing serves until the test calls Serve or Run.
func newTestServer(t *testing.T, opts ...Option) *testServer {
	t.Helper()
	cfg := Config{GRPCListener: localListener(t), HTTPListener: localListener(t), ShutdownTimeout: 5 * time.Second}
	s, err := New(cfg, discardLogger(), opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ts := &testServer{Server: s}
	registerThings(s, &ts.calls)
	if err := s.Listen(); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	ts.httpURL = "http://" + s.HTTPAddr().String()
	conn, err := grpc.NewClient(s.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ts.conn = conn
	return ts
}

// start runs fn (Serve or Run) until the test ends, and returns a function that stops it
// and returns its error.
func start(t *testing.T, fn func(context.Context) error) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	stopped := false
	var err error
	stop = func() error {
		t.Helper()
		if stopped {
			return err
		}
		stopped = true
		cancel()
		select {
		case err = <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("server did not stop within 10s of cancel")
		}
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// eventually polls cond until it holds or a deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true within 5s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func statusOf(t *testing.T, body string) string {
	t.Helper()
	var v struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	return v.Status
}

func healthStatus(t *testing.T, conn *grpc.ClientConn) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	resp, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("health check: %v", err)
	}
	return resp.GetStatus()
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	lis := localListener(t)
	t.Cleanup(func() { _ = lis.Close() })
	tests := []struct {
		name    string
		cfg     Config
		wantErr error // nil: valid; errAny: any error
	}{
		{name: "addresses", cfg: Config{GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", ShutdownTimeout: time.Second}},
		{name: "listeners", cfg: Config{GRPCListener: lis, HTTPListener: lis, ShutdownTimeout: time.Second}},
		{name: "no gRPC", cfg: Config{HTTPAddr: ":1", ShutdownTimeout: time.Second}, wantErr: ErrMissingGRPCAddr},
		{name: "no HTTP", cfg: Config{GRPCAddr: ":1", ShutdownTimeout: time.Second}, wantErr: ErrMissingHTTPAddr},
		{name: "zero timeout", cfg: Config{GRPCAddr: ":1", HTTPAddr: ":2"}, wantErr: errAny},
		{name: "negative timeout", cfg: Config{GRPCAddr: ":1", HTTPAddr: ":2", ShutdownTimeout: -time.Second}, wantErr: errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.cfg.Validate()
			switch {
			case tt.wantErr == nil && err != nil:
				t.Errorf("got %v, want nil", err)
			case tt.wantErr == errAny && err == nil:
				t.Errorf("got nil, want an error")
			case tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Errorf("got %v, want %v", err, tt.wantErr)
			}
			if _, newErr := New(tt.cfg, discardLogger()); (newErr == nil) != (err == nil) {
				t.Errorf("New: got %v, want the Validate error %v", newErr, err)
			}
		})
	}
}

var errAny = errors.New("any error")

func TestListenAddressInUse(t *testing.T) {
	t.Parallel()
	taken := localListener(t)
	t.Cleanup(func() { _ = taken.Close() })
	s, err := New(Config{GRPCAddr: "127.0.0.1:0", HTTPAddr: taken.Addr().String(), ShutdownTimeout: time.Second}, discardLogger())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Listen(); err == nil || !strings.Contains(err.Error(), "listen HTTP") {
		t.Errorf("Listen: got %v, want a listen HTTP error", err)
	}
	if err := s.Run(t.Context()); err == nil {
		t.Errorf("Run: got nil, want the listen error")
	}
}

func TestReadinessLifecycle(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	stop := start(t, ts.Serve)

	eventually(t, "/livez answers", func() bool { code, _ := get(t, ts.httpURL+"/livez"); return code == http.StatusOK })
	if _, body := get(t, ts.httpURL+"/livez"); statusOf(t, body) != "alive" {
		t.Errorf("/livez status: got %q, want %q", statusOf(t, body), "alive")
	}
	for _, path := range []string{"/readyz", "/healthz"} {
		if code, _ := get(t, ts.httpURL+path); code != http.StatusServiceUnavailable {
			t.Errorf("%s before ready: got %d, want %d", path, code, http.StatusServiceUnavailable)
		}
	}
	if got, want := healthStatus(t, ts.conn), healthpb.HealthCheckResponse_NOT_SERVING; got != want {
		t.Errorf("gRPC health before ready: got %v, want %v", got, want)
	}

	ts.SetReady(true)
	for path, want := range map[string]string{"/readyz": "ready", "/healthz": "healthy"} {
		code, body := get(t, ts.httpURL+path)
		if code != http.StatusOK {
			t.Errorf("%s when ready: got %d, want %d", path, code, http.StatusOK)
		}
		if got := statusOf(t, body); got != want {
			t.Errorf("%s status: got %q, want %q", path, got, want)
		}
	}
	if got, want := healthStatus(t, ts.conn), healthpb.HealthCheckResponse_SERVING; got != want {
		t.Errorf("gRPC health when ready: got %v, want %v", got, want)
	}

	ts.SetReady(false)
	if code, _ := get(t, ts.httpURL+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz after SetReady(false): got %d, want %d", code, http.StatusServiceUnavailable)
	}
	if got, want := healthStatus(t, ts.conn), healthpb.HealthCheckResponse_NOT_SERVING; got != want {
		t.Errorf("gRPC health after SetReady(false): got %v, want %v", got, want)
	}

	if err := stop(); err != nil {
		t.Errorf("Serve after cancel: got %v, want nil", err)
	}
	if ts.ready.Load() {
		t.Errorf("ready after stop: got true, want false")
	}
}

func TestRunReportsReadyAndStops(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	workerStopped := make(chan struct{})
	stop := start(t, func(ctx context.Context) error {
		return ts.Run(ctx, func(ctx context.Context) error {
			<-ctx.Done()
			close(workerStopped)
			return nil
		})
	})

	eventually(t, "/readyz answers 200 after Run", func() bool { code, _ := get(t, ts.httpURL+"/readyz"); return code == http.StatusOK })
	if got, want := healthStatus(t, ts.conn), healthpb.HealthCheckResponse_SERVING; got != want {
		t.Errorf("gRPC health: got %v, want %v", got, want)
	}
	if err := stop(); err != nil {
		t.Errorf("Run after cancel: got %v, want nil", err)
	}
	select {
	case <-workerStopped:
	default:
		t.Errorf("worker: got still running after Run returned, want stopped")
	}
	if code, _ := get(t, ts.httpURL+"/livez"); code == http.StatusOK {
		t.Errorf("/livez after stop: got %d, want no answer", code)
	}
}

func TestRunWorkerFailure(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	errWorker := errors.New("consumer failed")
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- ts.Run(t.Context(), func(context.Context) error {
			<-release
			return errWorker
		})
	}()
	eventually(t, "ready", func() bool { code, _ := get(t, ts.httpURL+"/readyz"); return code == http.StatusOK })
	close(release)
	select {
	case err := <-done:
		if !errors.Is(err, errWorker) {
			t.Errorf("Run: got %v, want %v", err, errWorker)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("Run did not return within 10s of a worker failing")
	}
	if ts.ready.Load() {
		t.Errorf("ready after a worker failed: got true, want false")
	}
}

func TestReadinessChecks(t *testing.T) {
	t.Parallel()
	errDep := errors.New("profile unreachable")
	tests := []struct {
		name       string
		checks     []func(context.Context) error
		wantCode   int
		wantStatus string
	}{
		{name: "none", wantCode: http.StatusOK, wantStatus: "healthy"},
		{name: "passing", checks: []func(context.Context) error{func(context.Context) error { return nil }}, wantCode: http.StatusOK, wantStatus: "healthy"},
		{
			name:       "one failing",
			checks:     []func(context.Context) error{func(context.Context) error { return nil }, func(context.Context) error { return errDep }},
			wantCode:   http.StatusServiceUnavailable,
			wantStatus: "unhealthy: profile unreachable",
		},
		{
			name: "check gets a deadline",
			checks: []func(context.Context) error{func(ctx context.Context) error {
				if _, ok := ctx.Deadline(); !ok {
					return errors.New("no deadline")
				}
				return nil
			}},
			wantCode: http.StatusOK, wantStatus: "healthy",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var opts []Option
			for _, c := range tt.checks {
				opts = append(opts, WithHealthCheck(c))
			}
			ts := newTestServer(t, opts...)
			start(t, ts.Serve)
			eventually(t, "/livez answers", func() bool { code, _ := get(t, ts.httpURL+"/livez"); return code == http.StatusOK })
			ts.SetReady(true)
			code, body := get(t, ts.httpURL+"/healthz")
			if code != tt.wantCode {
				t.Errorf("/healthz: got %d, want %d", code, tt.wantCode)
			}
			if got := statusOf(t, body); got != tt.wantStatus {
				t.Errorf("/healthz status: got %q, want %q", got, tt.wantStatus)
			}
			// Readiness ignores health checks: a failing dependency keeps the instance in
			// its load balancer.
			if code, body := get(t, ts.httpURL+"/readyz"); code != http.StatusOK || statusOf(t, body) != "ready" {
				t.Errorf("/readyz: got %d %s, want 200 ready", code, body)
			}
			if code, _ := get(t, ts.httpURL+"/livez"); code != http.StatusOK {
				t.Errorf("/livez: got %d, want %d (checks do not affect liveness)", code, http.StatusOK)
			}
		})
	}
}

func TestRoutesAndMetrics(t *testing.T) {
	t.Parallel()
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "strata_up 1\n") })
	ts := newTestServer(t, WithMetrics(metrics))
	ts.Handle("/v1/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "route "+r.URL.Path) }))
	start(t, ts.Serve)
	eventually(t, "/livez answers", func() bool { code, _ := get(t, ts.httpURL+"/livez"); return code == http.StatusOK })

	tests := []struct {
		path     string
		wantCode int
		wantBody string
	}{
		{"/metrics", http.StatusOK, "strata_up 1\n"},
		{"/v1/track", http.StatusOK, "route /v1/track"},
		{"/nope", http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		code, body := get(t, ts.httpURL+tt.path)
		if code != tt.wantCode {
			t.Errorf("%s: got %d, want %d", tt.path, code, tt.wantCode)
		}
		if tt.wantBody != "" && body != tt.wantBody {
			t.Errorf("%s body: got %q, want %q", tt.path, body, tt.wantBody)
		}
	}

	plain := newTestServer(t)
	start(t, plain.Serve)
	eventually(t, "/livez answers", func() bool { code, _ := get(t, plain.httpURL+"/livez"); return code == http.StatusOK })
	if code, _ := get(t, plain.httpURL+"/metrics"); code != http.StatusNotFound {
		t.Errorf("/metrics without WithMetrics: got %d, want %d", code, http.StatusNotFound)
	}
}

func TestReflection(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	start(t, ts.Serve)
	stream, err := reflectionpb.NewServerReflectionClient(ts.conn).ServerReflectionInfo(t.Context())
	if err != nil {
		t.Fatalf("reflection stream: %v", err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
	}); err != nil {
		t.Fatalf("send: %v", err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatalf("recv: %v", err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	for _, want := range []string{"grpc.health.v1.Health", thingService} {
		if !slices.Contains(names, want) {
			t.Errorf("services: got %v, want %s among them", names, want)
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Errorf("close send: %v", err)
	}
}

func badRequestFields(t *testing.T, err error) []string {
	t.Helper()
	var fields []string
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				fields = append(fields, v.GetField())
			}
		}
	}
	return fields
}

func TestValidationOverGRPC(t *testing.T) {
	t.Parallel()
	var afterValidation atomic.Int32
	ts := newTestServer(t, WithUnaryInterceptors(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		afterValidation.Add(1)
		return next(ctx, req)
	}))
	start(t, ts.Serve)
	tests := []struct {
		name       string
		user       string
		wantCode   codes.Code
		wantFields []string
	}{
		{name: "invalid", user: "", wantCode: codes.InvalidArgument, wantFields: []string{"user_id"}},
		{name: "too long", user: strings.Repeat("u", 257), wantCode: codes.InvalidArgument, wantFields: []string{"user_id"}},
		{name: "valid", user: "u1", wantCode: codes.OK},
	}
	wantCalls := int32(0)
	for _, tt := range tests {
		err := ts.conn.Invoke(t.Context(), getThing, newThingRequest(tt.user), &emptypb.Empty{})
		if got := status.Code(err); got != tt.wantCode {
			t.Errorf("%s: code got %v, want %v (%v)", tt.name, got, tt.wantCode, err)
		}
		if got := badRequestFields(t, err); !slices.Equal(got, tt.wantFields) {
			t.Errorf("%s: field violations got %v, want %v", tt.name, got, tt.wantFields)
		}
		if tt.wantCode == codes.OK {
			wantCalls++
		}
		if got := ts.calls.Load(); got != wantCalls {
			t.Errorf("%s: handler calls got %d, want %d", tt.name, got, wantCalls)
		}
		if got := afterValidation.Load(); got != wantCalls {
			t.Errorf("%s: service interceptor calls got %d, want %d (runs after validation)", tt.name, got, wantCalls)
		}
	}
}

func TestPanicRecovery(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	start(t, ts.Serve)
	err := ts.conn.Invoke(t.Context(), panicThing, &emptypb.Empty{}, &emptypb.Empty{})
	if got, want := status.Code(err), codes.Internal; got != want {
		t.Errorf("code: got %v, want %v", got, want)
	}
	if strings.Contains(status.Convert(err).Message(), "boom") {
		t.Errorf("message: got %q, want the panic value not leaked", status.Convert(err).Message())
	}
	// The server survives the panic.
	if err := ts.conn.Invoke(t.Context(), getThing, newThingRequest("u1"), &emptypb.Empty{}); err != nil {
		t.Errorf("call after a panic: got %v, want nil", err)
	}
}

func TestValidateUnary(t *testing.T) {
	t.Parallel()
	v, err := protovalidate.New()
	if err != nil {
		t.Fatalf("protovalidate.New: %v", err)
	}
	interceptor := validateUnary(v)
	tests := []struct {
		name       string
		req        any
		wantCode   codes.Code
		wantFields []string
	}{
		{name: "missing user_id", req: newThingRequest(""), wantCode: codes.InvalidArgument, wantFields: []string{"user_id"}},
		{name: "valid", req: newThingRequest("u1"), wantCode: codes.OK},
		{name: "message without rules", req: &emptypb.Empty{}, wantCode: codes.OK},
		{name: "not a proto message", req: "raw bytes", wantCode: codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			called := false
			resp, err := interceptor(t.Context(), tt.req, &grpc.UnaryServerInfo{FullMethod: getThing}, func(_ context.Context, req any) (any, error) {
				called = true
				return req, nil
			})
			if got := status.Code(err); got != tt.wantCode {
				t.Fatalf("code: got %v, want %v (%v)", got, tt.wantCode, err)
			}
			if got, want := called, tt.wantCode == codes.OK; got != want {
				t.Errorf("handler called: got %v, want %v", got, want)
			}
			if got := badRequestFields(t, err); !slices.Equal(got, tt.wantFields) {
				t.Errorf("field violations: got %v, want %v", got, tt.wantFields)
			}
			if tt.wantCode == codes.OK && resp != tt.req {
				t.Errorf("response: got %v, want the handler's", resp)
			}
		})
	}
}
