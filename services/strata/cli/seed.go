package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratahq/strata/services/strata/sink"
	"github.com/stratahq/strata/services/strata/world"
)

func newSeed(out io.Writer) *cobra.Command {
	var (
		cfg  = world.DefaultConfig()
		o    outputFlags
		end  string
		rate float64
	)
	cmd := &cobra.Command{
		Use:   "seed",
		Short: "Generate a synthetic paid-knowledge platform: catalog, users and months of behaviour",
		Long: `Generate a synthetic paid-knowledge platform and send it to a running suite or to files.

The world has creators and a catalog of courses, columns, audiobooks, live classes, ebooks
and memberships in Chinese and English; users with traits (age band, gender, occupation,
income level, city tier, interests) and latent tastes (category and tag affinities, price
sensitivity, activity); and their behaviour over --days ending at --end: sessions, views,
lessons, favourites, carts, orders with coupons, refunds, ratings, reviews, subscriptions,
NPS/CSAT/CES surveys and support tickets, with weekly seasonality, onboarding, habit decay,
churn and reactivation.

The same --seed, sizes, --prefix and --end give byte-identical output. --end defaults to
the start of the current UTC day, so pass it to reproduce a world on another day.
Events are emitted user by user (each user's in time order); the catalog is sent first.`,
		Example: `  strata seed --out world.jsonl                      # world.jsonl + world.items.jsonl
  strata seed --http http://127.0.0.1:8080           # into a running 'strata up'
  strata seed --users 1000000 --items 50000 --out big.jsonl.gz`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if end != "" {
				t, err := parseEnd(end)
				if err != nil {
					return err
				}
				cfg.End = t
			}
			ctx := cmd.Context()
			w, err := world.New(cfg)
			if err != nil {
				return err
			}
			log, err := commandLogger()
			if err != nil {
				return err
			}
			s, err := o.open(ctx, log)
			if err != nil {
				return err
			}
			s = sink.Pace(s, sink.PaceConfig{Rate: rate})
			p := startProgress(o.progressEnabled(), "seed", "users", int64(cfg.Users), func() (int64, int64) {
				return w.Simulated(), s.Stats().Delivered
			})
			res, err := seedWorld(ctx, w, s)
			p.Stop()
			if err != nil {
				return err
			}
			sum := o.summaryWriter(out)
			fmt.Fprintf(sum, "seeded world %d: %s users, %s items, %d days to %s: %s events in %.1fs (%s events/s) to %s\n",
				cfg.Seed, thousands(int64(cfg.Users)), thousands(int64(res.Items)), cfg.Days, cfg.End.Format("2006-01-02"),
				thousands(res.Events), res.Elapsed.Seconds(), thousands(int64(float64(res.Events)/max(res.Elapsed.Seconds(), 1e-9))), o.describe(res.Items > 0))
			if res.ItemsSkipped {
				fmt.Fprintln(sum, "catalog items were not sent: --http needs --admin-key for them")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "random seed: the same seed gives the same world")
	f.IntVar(&cfg.Users, "users", cfg.Users, "number of users")
	f.IntVar(&cfg.Items, "items", cfg.Items, "number of catalog items")
	f.IntVar(&cfg.Days, "days", cfg.Days, "days of behaviour")
	f.StringVar(&end, "end", "", "end of the world's time window, YYYY-MM-DD or RFC 3339 (default: start of today, UTC)")
	f.StringVar(&cfg.Prefix, "prefix", "", "prefix of every id, so that several worlds can share a suite")
	f.IntVar(&cfg.Workers, "workers", 0, "users simulated in parallel (default: GOMAXPROCS; does not change the output)")
	f.Float64Var(&rate, "rate", 0, "at most this many events per second (0: as fast as the destination takes them)")
	o.register(f)
	return cmd
}

// seedResult is what seedWorld did.
type seedResult struct {
	Events       int64
	Items        int
	ItemsSkipped bool
	Elapsed      time.Duration
}

// seedWorld sends w's catalog, then its events, to s and closes s.
func seedWorld(ctx context.Context, w *world.World, s sink.Sink) (seedResult, error) {
	start := time.Now()
	res := seedResult{}
	items := w.Items()
	switch err := s.SendItems(ctx, items); {
	case errors.Is(err, sink.ErrNoAdminKey):
		res.ItemsSkipped = true
	case err != nil:
		_ = closeSink(ctx, s, true)
		return res, err
	default:
		res.Items = len(items)
	}
	err := w.Generate(ctx, func(m sink.Message) error {
		res.Events++
		return s.Send(ctx, m)
	})
	err = errors.Join(err, closeSink(ctx, s, err != nil))
	res.Elapsed = time.Since(start)
	return res, err
}

// closeSink closes s. After a failure (or an interrupt) it gives what is in flight a
// few seconds rather than waiting for every retry.
func closeSink(ctx context.Context, s sink.Sink, failed bool) error {
	if !failed {
		return s.Close(ctx)
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return s.Close(cctx)
}

// parseEnd reads a date or an RFC 3339 time.
func parseEnd(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--end %q: want YYYY-MM-DD or RFC 3339", s)
	}
	return t.UTC(), nil
}
