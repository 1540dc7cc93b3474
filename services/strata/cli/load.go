package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratahq/strata/services/strata"
	"github.com/stratahq/strata/services/strata/load"
)

func newLoad(out io.Writer) *cobra.Command {
	var (
		cfg    load.Config
		op     string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "load",
		Short: "Open-loop load against a suite on this machine: events, profile reads or recommendations",
		Long: `Send open-loop load at a target rate to a suite on the loopback interface and report
the rate achieved, latency percentiles (from when each request was due, so a stalled
client or server shows) and errors by kind.

  --op track      events in Segment /v1/batch requests (--http) or IngestBatch calls
                  (--grpc), --batch events a request; --rate counts events
  --op profile    GetProfile (gRPC) or GET /api/v1/users/{id}/profile (REST)
  --op recommend  Recommend (gRPC) or GET /api/v1/users/{id}/recommendations (REST)
  --op health     the gateway's own health check (gRPC Check, GET /livez): no backend,
                  the floor under any call through the gateway on this machine

Users are drawn from the ids 'strata seed' gives (u0000001 … --users), so seed first for
profile and recommend. The run stops after --duration or --count, whichever comes first.
Only loopback targets (127.0.0.0/8, ::1, localhost) are accepted.`,
		Example: `  strata load --http http://127.0.0.1:8080 --rate 5000 --batch 10 --duration 10s
  strata load --grpc 127.0.0.1:9090 --op recommend --rate 2000 --duration 30s --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Op = load.Operation(op)
			rep, err := load.Run(cmd.Context(), cfg)
			if rep == nil {
				return err
			}
			if asJSON {
				if werr := rep.WriteJSON(out); werr != nil {
					return werr
				}
			} else if werr := rep.WriteText(out); werr != nil {
				return werr
			}
			if err != nil {
				return fmt.Errorf("load stopped early: %w", err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&op, "op", string(load.Track), "what to send: track, profile, recommend or health")
	f.StringVar(&cfg.HTTP, "http", "", "gateway HTTP base URL, e.g. http://127.0.0.1:8080")
	f.StringVar(&cfg.GRPC, "grpc", "", "gateway gRPC address, e.g. 127.0.0.1:9090")
	f.Float64Var(&cfg.Rate, "rate", 1000, "target operations per second (events for track, requests otherwise)")
	f.DurationVar(&cfg.Duration, "duration", 10*time.Second, "stop after this long (0: only --count bounds the run)")
	f.Int64Var(&cfg.Count, "count", 0, "stop after this many operations (0: only --duration bounds the run)")
	f.IntVar(&cfg.Batch, "batch", 1, "events per request for --op track")
	f.IntVar(&cfg.Users, "users", 5000, "user ids to spread requests over (as strata seed names them)")
	f.StringVar(&cfg.Prefix, "prefix", "", "id prefix the world was seeded with")
	f.StringVar(&cfg.WriteKey, "write-key", strata.DevWriteKey, "Segment write key (--op track over --http)")
	f.StringVar(&cfg.APIKey, "api-key", strata.DevAdminKey, "API key sent as Bearer (gRPC, REST)")
	f.IntVar(&cfg.MaxInFlight, "max-in-flight", 512, "requests outstanding at most; one due beyond that counts as an overload error")
	f.DurationVar(&cfg.Timeout, "timeout", 10*time.Second, "timeout of one request")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}
