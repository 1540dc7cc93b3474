// Package servertest gives tests a server.Config listening on free loopback ports.
package servertest

import (
	"net"
	"testing"
	"time"

	"github.com/stratahq/strata/pkg/server"
)

// Loopback returns a server.Config whose gRPC and HTTP listeners are open on free
// 127.0.0.1 ports, with the given shutdown timeout. The server that runs it closes the
// listeners; a test that never runs it should not care.
func Loopback(t testing.TB, shutdown time.Duration) server.Config {
	t.Helper()
	g, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = g.Close()
		t.Fatal(err)
	}
	return server.Config{GRPCListener: g, HTTPListener: h, ShutdownTimeout: shutdown}
}
