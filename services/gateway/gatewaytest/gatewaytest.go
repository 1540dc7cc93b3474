// Package gatewaytest runs a gateway for tests: on free loopback ports, with a SQLite
// key store in the test's temporary directory, stopped (and its error checked) when the
// test ends. Start is safe to use from parallel tests.
package gatewaytest

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stratahq/strata/pkg/server/servertest"
	"github.com/stratahq/strata/services/gateway"
	"github.com/stratahq/strata/services/gateway/keystore/keystoretest"
)

// Gateway is a running gateway.
type Gateway struct {
	// GRPC is its gRPC address (host:port); HTTP its HTTP base URL (http://host:port).
	GRPC, HTTP string
}

// Start runs cfg until the test ends and waits until the gateway is ready. It fills the
// server listeners and, when cfg names no database, a SQLite key store; cfg's backends
// are dialled lazily, so a test of the gateway's own API needs none running.
func Start(t testing.TB, cfg gateway.Config) Gateway {
	t.Helper()
	cfg.Server = servertest.Loopback(t, 5*time.Second)
	if cfg.Keys.PostgresURL == "" && cfg.Keys.SQLitePath == "" {
		cfg.Keys = keystoretest.SQLite(t)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gateway.Run(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("gateway: %v", err)
		}
	})
	gw := Gateway{GRPC: cfg.Server.GRPCListener.Addr().String(), HTTP: "http://" + cfg.Server.HTTPListener.Addr().String()}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-done:
			done <- err // for the cleanup
			t.Fatalf("gateway stopped before it was ready: %v", err)
		default:
		}
		if resp, err := http.Get(gw.HTTP + "/readyz"); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return gw
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway not ready at %s within 30s", gw.HTTP)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
