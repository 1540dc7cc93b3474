// Command ingest runs the ingest service; see package ingest.
package main

import (
	"os"

	"github.com/stratahq/strata/pkg/daemon"
	"github.com/stratahq/strata/services/ingest"
)

func main() {
	cfg := ingest.DefaultConfig()
	os.Exit(daemon.Main("ingest", &cfg, func(env daemon.Env) error {
		cfg.Logger, cfg.Metrics = env.Logger, env.Metrics
		return ingest.Run(env.Ctx, cfg)
	}))
}
