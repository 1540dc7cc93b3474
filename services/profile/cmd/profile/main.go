// Command profile runs the profile service; see package profile.
package main

import (
	"os"

	"github.com/stratahq/strata/pkg/daemon"
	"github.com/stratahq/strata/services/profile"
)

func main() {
	cfg := profile.DefaultConfig()
	os.Exit(daemon.Main("profile", &cfg, func(env daemon.Env) error {
		cfg.Logger, cfg.Metrics = env.Logger, env.Metrics
		return profile.Run(env.Ctx, cfg)
	}))
}
