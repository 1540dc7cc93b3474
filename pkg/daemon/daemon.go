// Package daemon is what every service binary's main does: load configuration from the
// environment, set up logging and telemetry, run the service until SIGINT or SIGTERM, then
// flush telemetry and turn the outcome into an exit code. It keeps each cmd/<name>/main.go
// down to wiring.
package daemon

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/stratahq/strata/pkg/config"
	"github.com/stratahq/strata/pkg/logging"
	"github.com/stratahq/strata/pkg/telemetry"
)

// Env is what Main hands the service: a context cancelled on SIGINT/SIGTERM, a logger and
// the Prometheus handler of the process's metrics.
type Env struct {
	Ctx     context.Context
	Logger  *slog.Logger
	Metrics http.Handler
}

// Main loads cfg from the environment (it must be a pointer to a struct with env tags),
// runs run and returns the process exit code.
func Main(service string, cfg any, run func(Env) error) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var logCfg logging.Config
	if err := config.Load(&logCfg); err != nil {
		slog.Error("config", "err", err)
		return 2
	}
	log, err := logging.New(os.Stderr, logCfg)
	if err != nil {
		slog.Error("logging", "err", err)
		return 2
	}
	if err := config.Load(cfg); err != nil {
		log.Error("invalid configuration", "err", err)
		return 2
	}
	telCfg := telemetry.Config{ServiceName: "strata-" + service}
	if err := config.Load(&telCfg); err != nil {
		log.Error("invalid telemetry configuration", "err", err)
		return 2
	}
	tel, err := telemetry.Setup(ctx, telCfg)
	if err != nil {
		log.Error("telemetry", "err", err)
		return 1
	}
	defer func() {
		if err := tel.Shutdown(context.WithoutCancel(ctx)); err != nil {
			log.Warn("telemetry shutdown", "err", err)
		}
	}()

	log.Info("starting", "service", service)
	err = run(Env{Ctx: ctx, Logger: log, Metrics: tel.MetricsHandler()})
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Error("stopped with error", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}
