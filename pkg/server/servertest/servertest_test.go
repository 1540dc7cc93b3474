package servertest_test

import (
	"testing"
	"time"

	"github.com/stratahq/strata/pkg/server/servertest"
)

func TestLoopback(t *testing.T) {
	t.Parallel()
	cfg := servertest.Loopback(t, 3*time.Second)
	defer cfg.GRPCListener.Close()
	defer cfg.HTTPListener.Close()
	g, h := cfg.GRPCListener.Addr().String(), cfg.HTTPListener.Addr().String()
	if g == h || cfg.ShutdownTimeout != 3*time.Second {
		t.Errorf("got gRPC %s, HTTP %s, shutdown %v; want two distinct ports and 3s", g, h, cfg.ShutdownTimeout)
	}
}
