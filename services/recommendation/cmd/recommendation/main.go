// Command recommendation runs the recommendation service; see package recommendation.
package main

import (
	"os"

	"github.com/stratahq/strata/pkg/daemon"
	"github.com/stratahq/strata/services/recommendation"
)

func main() {
	cfg := recommendation.DefaultConfig()
	os.Exit(daemon.Main("recommendation", &cfg, func(env daemon.Env) error {
		cfg.Logger, cfg.Metrics = env.Logger, env.Metrics
		return recommendation.Run(env.Ctx, cfg)
	}))
}
