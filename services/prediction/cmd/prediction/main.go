// Command prediction runs the prediction service; see package prediction.
package main

import (
	"os"

	"github.com/stratahq/strata/pkg/daemon"
	"github.com/stratahq/strata/services/prediction"
)

func main() {
	cfg := prediction.DefaultConfig()
	os.Exit(daemon.Main("prediction", &cfg, func(env daemon.Env) error {
		cfg.Logger, cfg.Metrics = env.Logger, env.Metrics
		return prediction.Run(env.Ctx, cfg)
	}))
}
