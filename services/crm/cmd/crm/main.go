// Command crm runs the CRM service; see package crm.
package main

import (
	"os"

	"github.com/stratahq/strata/pkg/daemon"
	"github.com/stratahq/strata/services/crm"
)

func main() {
	cfg := crm.DefaultConfig()
	os.Exit(daemon.Main("crm", &cfg, func(env daemon.Env) error {
		cfg.Logger, cfg.Metrics = env.Logger, env.Metrics
		return crm.Run(env.Ctx, cfg)
	}))
}
