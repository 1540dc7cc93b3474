package cli

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratahq/strata/services/strata/replay"
	"github.com/stratahq/strata/services/strata/sink"
)

// replayFlags are shared by the replay subcommands.
type replayFlags struct {
	outputFlags
	opt            replay.Options
	compress, rate float64
}

func newReplay(out io.Writer) *cobra.Command {
	rf := &replayFlags{}
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Import a public dataset (MovieLens, CDNOW) or a seed file as events, through the ingest path",
		Long: `Import a dataset as Segment events through the same path as any client's.

  movielens  MovieLens ratings.csv (+ movies.csv as the catalog) -> "Item Rated" events of
             users ml-<userId> about items ml-movie-<movieId>, the rating as a property
  cdnow      CDNOW purchase histories (master or sample layout) -> "Order Completed"
             events of users cdnow-<customer id>, revenue in USD (and cents)
  jsonl      a file written by 'strata seed --out', read back as written

MovieLens and CDNOW rows are sorted by time. --compress paces them by their timestamps:
a factor of 86400 replays a day a second, 1e6 replays CDNOW's 18 months in under a
minute; 0 sends as fast as --rate and the destination allow.`,
	}
	pf := cmd.PersistentFlags()
	rf.register(pf)
	pf.Float64Var(&rf.compress, "compress", 0, "time compression factor: events are paced by their timestamps divided by it (0: no pacing)")
	pf.Float64Var(&rf.rate, "rate", 0, "at most this many events per second (0: no limit)")
	pf.IntVar(&rf.opt.Limit, "limit", 0, "read only the first N rows of the file (0: all)")
	pf.StringVar(&rf.opt.Prefix, "prefix", "", "prefix of user, message and order ids, to replay a dataset again as new users")

	cmd.AddCommand(&cobra.Command{
		Use:     "movielens PATH",
		Short:   "Replay MovieLens ratings (a ratings.csv, or a directory with ratings.csv and movies.csv)",
		Example: "  strata replay movielens ../shared/datasets/ml-latest-small --http http://127.0.0.1:8080 --compress 1e7",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			src, err := replay.OpenMovieLens(args[0], rf.opt)
			if err != nil {
				return err
			}
			return rf.run(cmd, out, "movielens", src, src.Users())
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:     "cdnow FILE",
		Short:   "Replay CDNOW purchase histories (CDNOW_master.txt or CDNOW_sample.txt)",
		Example: "  strata replay cdnow ../shared/datasets/cdnow/CDNOW_sample.txt --http http://127.0.0.1:8080 --compress 1e6",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			src, err := replay.OpenCDNOW(args[0], rf.opt)
			if err != nil {
				return err
			}
			return rf.run(cmd, out, "cdnow", src, src.Users())
		},
	})
	var itemsIn string
	jsonl := &cobra.Command{
		Use:     "jsonl FILE",
		Short:   "Replay a JSON-lines file of Segment messages (what 'strata seed --out' writes)",
		Example: "  strata replay jsonl world.jsonl --items world.items.jsonl --http http://127.0.0.1:8080",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			src, err := replay.OpenJSONL(args[0], itemsIn, rf.opt)
			if err != nil {
				return err
			}
			defer src.Close()
			return rf.run(cmd, out, "jsonl", src, -1)
		},
	}
	jsonl.Flags().StringVar(&itemsIn, "items", "", "catalog items file to send first (JSON lines)")
	cmd.AddCommand(jsonl)
	return cmd
}

func (rf *replayFlags) run(cmd *cobra.Command, out io.Writer, name string, src replay.Source, users int) error {
	ctx := cmd.Context()
	log, err := commandLogger()
	if err != nil {
		return err
	}
	s, err := rf.open(ctx, log)
	if err != nil {
		return err
	}
	s = sink.Pace(s, sink.PaceConfig{Compress: rf.compress, Rate: rf.rate})
	var sent atomic.Int64
	p := startProgress(rf.progressEnabled(), "replay "+name, "rows", int64(max(src.Len(), 0)), func() (int64, int64) {
		return sent.Load(), s.Stats().Delivered
	})
	counting := countingSink{Sink: s, n: &sent}
	res, err := replay.Run(ctx, src, counting)
	err = closeSink(ctx, s, err != nil)
	p.Stop()
	if err != nil {
		return err
	}
	sum := rf.summaryWriter(out)
	fmt.Fprintf(sum, "replayed %s: %s events", name, thousands(int64(res.Messages)))
	if users >= 0 {
		fmt.Fprintf(sum, " of %s users", thousands(int64(users)))
	}
	if res.Items > 0 {
		fmt.Fprintf(sum, ", %s catalog items", thousands(int64(res.Items)))
	}
	fmt.Fprintf(sum, " in %.1fs to %s\n", time.Since(p.start).Seconds(), rf.describe(res.Items > 0))
	if res.ItemsSkipped {
		fmt.Fprintln(sum, "catalog items were not sent: --http needs --admin-key for them")
	}
	return nil
}

// countingSink counts the messages handed to it.
type countingSink struct {
	sink.Sink
	n *atomic.Int64
}

func (c countingSink) Send(ctx context.Context, m sink.Message) error {
	c.n.Add(1)
	return c.Sink.Send(ctx, m)
}
