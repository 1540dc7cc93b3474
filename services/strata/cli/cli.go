// Package cli is the strata command line: `strata up` runs the whole suite in one
// process; later commands (seed, replay, load, eval, keys, privacy) hang off the same root.
package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stratahq/strata/pkg/config"
	"github.com/stratahq/strata/pkg/logging"
	"github.com/stratahq/strata/pkg/telemetry"
	"github.com/stratahq/strata/services/strata"
)

// New returns the root command. out receives what the commands print for people.
func New(out io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "strata",
		Short:         "Strata: user stratification and precision marketing for paid-knowledge platforms",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newUp(out))
	root.AddCommand(newSeed(out), newReplay(out), newLoad(out))
	root.AddCommand(newEval(out))
	attach(root, "eval", newEvalRecommend(out))
	root.AddCommand(newRecommend(out))
	root.AddCommand(newKeys(out))
	root.AddCommand(newPrivacy(out))
	return root
}

func newUp(out io.Writer) *cobra.Command {
	var (
		cfg    strata.Config
		logCfg logging.Config
		seed   seedOnce
	)
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run every service in one process (embedded Kafka, Redis and SQLite unless addresses are given)",
		Long: `Run every Strata service in one process.

Without infrastructure addresses it starts in-process stand-ins (a Kafka-protocol broker,
a Redis-protocol server and SQLite) and accepts the development keys dev-write-key and
dev-admin-key. With --kafka, --redis and --postgres (or STRATA_KAFKA_BROKERS,
STRATA_REDIS_ADDR, STRATA_POSTGRES_URL) it runs against real infrastructure; as soon as
any of them is given the development keys are off and it needs
STRATA_INGEST_WRITE_KEYS and STRATA_GATEWAY_ADMIN_KEYS.`,
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			// Flags override the environment: load env first, then re-apply set flags.
			flags := map[string]string{}
			cmd.Flags().Visit(func(f *pflag.Flag) { flags[f.Name] = f.Value.String() })
			if err := config.Load(&cfg); err != nil {
				return err
			}
			if err := config.Load(&logCfg); err != nil {
				return err
			}
			for name, v := range flags {
				switch name {
				case "kafka":
					cfg.Brokers = splitList(v)
				case "redis":
					cfg.RedisAddrs = splitList(v)
				case "postgres":
					cfg.PostgresURL = v
				case "http":
					cfg.HTTPAddr = v
				case "grpc":
					cfg.GRPCAddr = v
				case "data-dir":
					cfg.DataDir = v
				}
			}
			return cfg.Validate()
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			log, err := logging.New(os.Stderr, logCfg)
			if err != nil {
				return err
			}
			telCfg := telemetry.Config{ServiceName: "strata"}
			if err := config.Load(&telCfg); err != nil {
				return err
			}
			tel, err := telemetry.Setup(ctx, telCfg)
			if err != nil {
				return err
			}
			defer func() { _ = tel.Shutdown(context.WithoutCancel(ctx)) }()
			cfg.Logger, cfg.Metrics = log, tel.MetricsHandler()
			cfg.OnReady = func(ep strata.Endpoints) { printBanner(out, ep); seed.run(ctx, out, log, ep, cfg) }
			return strata.Run(ctx, cfg)
		},
	}
	f := cmd.Flags()
	f.String("kafka", "", "Kafka bootstrap brokers, comma-separated (default: embedded)")
	f.String("redis", "", "Redis address(es), comma-separated (default: embedded)")
	f.String("postgres", "", "PostgreSQL URL for the CRM (default: embedded SQLite)")
	f.String("http", "127.0.0.1:8080", "gateway HTTP address")
	f.String("grpc", "127.0.0.1:9090", "gateway gRPC address")
	f.String("data-dir", "", "directory of the embedded SQLite database (default: temporary)")
	seed.register(f)
	return cmd
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func printBanner(out io.Writer, ep strata.Endpoints) {
	mode := "real infrastructure"
	if ep.Embedded {
		mode = "embedded Kafka, Redis and SQLite (data is lost on exit)"
	}
	fmt.Fprintf(out, `
Strata is up (%s).

  REST + console  http://%[2]s
  gRPC            %[3]s
  OpenAPI         http://%[2]s/openapi.json
  health          http://%[2]s/healthz
  metrics         http://%[2]s/metrics
`, mode, ep.HTTP, ep.GRPC)
	if ep.Embedded {
		fmt.Fprintf(out, `
  Segment write key  %[1]s   (HTTP Basic user)
  admin API key      %[2]s   (Authorization: Bearer %[2]s)

Send an event:
  curl -u %[1]s: -H 'Content-Type: application/json' \
    -d '{"userId":"u1","event":"Lesson Completed","properties":{"minutes":12}}' \
    http://%[3]s/v1/track

Read the profile back:
  curl -H 'Authorization: Bearer %[2]s' http://%[3]s/api/v1/users/u1/profile
  grpcurl -plaintext -H 'authorization: Bearer %[2]s' -d '{"user_id":"u1"}' \
    %[4]s strata.profile.v1.ProfileService/GetProfile

Create an API key for an app (read:self keys read only their user):
  strata keys create --grpc %[4]s --name web --scope read:self,recommend --user u1

Erase a user everywhere (right to erasure):
  strata privacy erase --grpc %[4]s u1
`, ep.WriteKey, ep.AdminKey, ep.HTTP, ep.GRPC)
	}
	fmt.Fprintln(out, "\nPress Ctrl-C to stop.")
}
