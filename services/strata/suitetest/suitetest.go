// Package suitetest starts the whole suite for tests and drives it as a client would:
// Segment API calls and REST requests through the gateway's HTTP address, gRPC calls
// through its gRPC address. The same scenarios run against the embedded stand-ins (unit
// tests) and against real Kafka, Redis and PostgreSQL (integration tests).
package suitetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/stratahq/strata/pkg/logging"
	"github.com/stratahq/strata/services/strata"
)

// Suite is a running suite.
type Suite struct {
	strata.Endpoints
	Conn *grpc.ClientConn
}

// Start runs the suite with cfg (gateway on free ports) until the test ends, and waits
// until the gateway reports every service ready.
//
// On real Kafka (cfg.Brokers set) the suite's services join the suite's consumer
// groups, as a deployment does; two suites at once, from test binaries that `go test`
// runs in parallel, would split the partitions between them and each miss events. So
// Start holds a machine-wide lock on real infrastructure until the test ends.
func Start(t testing.TB, cfg strata.Config) *Suite {
	t.Helper()
	if !cfg.Embedded() {
		lockRealSuite(t)
	}
	cfg.HTTPAddr, cfg.GRPCAddr = "127.0.0.1:0", "127.0.0.1:0"
	if cfg.Logger == nil {
		cfg.Logger = logging.Discard()
	}
	ready := make(chan strata.Endpoints, 1)
	cfg.OnReady = func(ep strata.Endpoints) { ready <- ep }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- strata.Run(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("suite stopped with error: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Errorf("suite did not stop within 60s of cancellation")
		}
	})
	var ep strata.Endpoints
	select {
	case ep = <-ready:
	case err := <-done:
		t.Fatalf("suite stopped before it was ready: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatalf("suite not ready within 2 minutes")
	}
	conn, err := grpc.NewClient(ep.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial gateway: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &Suite{Endpoints: ep, Conn: conn}
}

// Admin returns ctx carrying the admin key as gRPC metadata.
func (s *Suite) Admin(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+s.AdminKey)
}

// Segment posts body to the gateway's Segment API path (e.g. "/v1/batch") with the write
// key and returns the status code and decoded JSON body.
func (s *Suite) Segment(t testing.TB, path string, body []byte) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+s.HTTP+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(s.WriteKey, "")
	req.Header.Set("Content-Type", "application/json")
	return do(t, req)
}

// GetJSON gets a REST path with the admin key.
func (s *Suite) GetJSON(t testing.TB, path string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+s.HTTP+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.AdminKey)
	return do(t, req)
}

// PostJSON posts body (JSON) to a REST path with the admin key.
func (s *Suite) PostJSON(t testing.TB, path string, body []byte) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+s.HTTP+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.AdminKey)
	req.Header.Set("Content-Type", "application/json")
	return do(t, req)
}

func do(t testing.TB, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: body is not JSON: %q", req.Method, req.URL, raw)
		}
	}
	return resp.StatusCode, out
}

// UserID returns a user id unique to this run, so tests against shared real
// infrastructure never see each other's data.
func UserID(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// Eventually polls cond every 50ms until it returns true or the timeout passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
