// Command gateway runs the gateway; see package gateway.
package main

import (
	"os"

	"github.com/stratahq/strata/pkg/daemon"
	"github.com/stratahq/strata/services/gateway"
)

func main() {
	cfg := gateway.DefaultConfig()
	os.Exit(daemon.Main("gateway", &cfg, func(env daemon.Env) error {
		cfg.Logger, cfg.Metrics = env.Logger, env.Metrics
		return gateway.Run(env.Ctx, cfg)
	}))
}
