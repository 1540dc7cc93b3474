package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/stratahq/strata/services/recommendation/ease"
	"github.com/stratahq/strata/services/recommendation/evaluation"
	"github.com/stratahq/strata/services/recommendation/hybrid"
	"github.com/stratahq/strata/services/recommendation/interactions"
	"github.com/stratahq/strata/services/recommendation/split"
)

// attach adds sub under root's child named parent, creating the parent when no other
// command did, so several files can hang subcommands off one verb (eval).
func attach(root *cobra.Command, parent string, sub *cobra.Command) {
	for _, c := range root.Commands() {
		if c.Name() == parent {
			c.AddCommand(sub)
			return
		}
	}
	p := &cobra.Command{Use: parent, Short: "Offline evaluations of the models on public data sets"}
	p.AddCommand(sub)
	root.AddCommand(p)
}

// modelFlags are the model settings shared by eval recommend and recommend offline.
type modelFlags struct {
	lambda        float64
	knnNeighbours int
	knnShrink     float64
	hybridLambdas string
	hybridVal     float64
	hybridUsers   float64
	hybridUserLs  string
}

func (m *modelFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.Float64Var(&m.lambda, "ease-lambda", ease.DefaultLambda, "L2 regularisation of the ease model")
	f.IntVar(&m.knnNeighbours, "knn-neighbours", 0, "neighbours kept per item by the itemknn model (0 = all, the plain cosine model)")
	f.Float64Var(&m.knnShrink, "knn-shrink", 0, "shrinkage added to the itemknn cosine's denominator")
	f.StringVar(&m.hybridLambdas, "hybrid-lambdas", joinFloats(hybrid.DefaultLambdas), "item-based EASE λ grid the hybrid model validates (comma-separated)")
	f.StringVar(&m.hybridUserLs, "hybrid-user-lambdas", joinFloats(hybrid.DefaultUserLambdas), "user-based EASE λ grid the hybrid model validates (comma-separated)")
	f.Float64Var(&m.hybridUsers, "hybrid-validation-users", 1, "share of users the hybrid model holds ratings out of for validation")
	f.Float64Var(&m.hybridVal, "hybrid-validation-ratio", 0.1, "share of those users' training ratings the hybrid model holds out for validation")
}

func (m *modelFlags) apply(cfg *evaluation.Config) error {
	cfg.EASE.Lambda = m.lambda
	cfg.KNN.Neighbours, cfg.KNN.Shrink = m.knnNeighbours, m.knnShrink
	cfg.Hybrid.ValidationUsers, cfg.Hybrid.ValidationRatio = m.hybridUsers, m.hybridVal
	var err error
	if cfg.Hybrid.Lambdas, err = parseFloats("--hybrid-lambdas", m.hybridLambdas); err != nil {
		return err
	}
	cfg.Hybrid.UserLambdas, err = parseFloats("--hybrid-user-lambdas", m.hybridUserLs)
	return err
}

func joinFloats(fs []float64) string {
	ss := make([]string, len(fs))
	for i, f := range fs {
		ss[i] = strconv.FormatFloat(f, 'g', -1, 64)
	}
	return strings.Join(ss, ",")
}

func parseFloats(flag, list string) ([]float64, error) {
	var out []float64
	for _, s := range splitList(list) {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f <= 0 {
			return nil, fmt.Errorf("%s: %q is not a positive number", flag, s)
		}
		out = append(out, f)
	}
	return out, nil
}

func newEvalRecommend(out io.Writer) *cobra.Command {
	var (
		file, itemsDir, protocol, models string
		ratio                            float64
		seed                             uint64
		k                                int
		asJSON, quiet                    bool
		mf                               modelFlags
	)
	cmd := &cobra.Command{
		Use:   "recommend",
		Short: "Evaluate the recommenders offline on a MovieLens-format ratings file",
		Long: `Split a MovieLens-format ratings file (userId,movieId,rating,timestamp) into training
and test sets, train each model on the training set with every rating counting as a
positive, rank every item a user has not seen in training and score the top k against the
held-out items: precision, recall, nDCG and MAP at k, catalog coverage, novelty (mean
self-information of the recommended items) and training time.

Protocols: stratified holds out a random --test-ratio of each user's ratings (seeded);
temporal holds out each user's latest ratings. Models: pop (popularity), itemknn (item
cosine kNN), ease (EASE, closed form), als (implicit ALS, conjugate gradient), hybrid
(item-based EASE, user-based EASE, item-kNN, popularity and ALS when it helps, blended;
the λs and the blend weights are chosen on a validation split carved from the training set
only: 10 % of each user's training ratings), and content (TF-IDF over the items' titles
and genres; needs --items, the MovieLens directory holding movies.csv and tags.csv).`,
		Example: `  strata eval recommend --ratings ../shared/datasets/ml-latest-small/ratings.csv \
    --protocol stratified --test-ratio 0.25 --seed 42 --k 10 --models pop,itemknn,ease,hybrid`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := evaluation.Config{
				Protocol: split.Protocol(protocol), TestRatio: ratio, Seed: seed, K: k,
				Models: splitList(models),
			}
			if err := mf.apply(&cfg); err != nil {
				return err
			}
			ratings, err := readRatings(file)
			if err != nil {
				return err
			}
			if itemsDir != "" {
				if cfg.Items, err = evaluation.ReadMovieLensItems(itemsDir); err != nil {
					return err
				}
			}
			p := newStageProgress(!quiet && term.IsTerminal(int(os.Stderr.Fd())), os.Stderr)
			cfg.Progress = p.report
			rep, err := evaluation.Run(cmd.Context(), ratings, cfg)
			p.finish()
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			return printEvalTable(out, rep)
		},
	}
	f := cmd.Flags()
	f.StringVar(&file, "ratings", "", "ratings CSV (MovieLens format: userId,movieId,rating,timestamp)")
	f.StringVar(&itemsDir, "items", "", "MovieLens directory with movies.csv (and tags.csv): the item texts the content model needs")
	f.StringVar(&protocol, "protocol", string(split.ProtocolStratified), "split protocol: stratified or temporal")
	f.Float64Var(&ratio, "test-ratio", 0.25, "share of each user's ratings held out for testing")
	f.Uint64Var(&seed, "seed", 42, "seed of the stratified split (and of the hybrid's validation split, seed+1)")
	f.IntVar(&k, "k", 10, "length of the recommended lists")
	f.StringVar(&models, "models", strings.Join(evaluation.ModelNames(), ","), "models to evaluate, comma-separated")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON instead of a table")
	f.BoolVar(&quiet, "quiet", false, "do not report progress on stderr")
	mf.register(cmd)
	_ = cmd.MarkFlagRequired("ratings")
	return cmd
}

func printEvalTable(out io.Writer, rep evaluation.Report) error {
	fmt.Fprintf(out, "protocol=%s test-ratio=%g seed=%d k=%d: %d users, %d items, %d train / %d test ratings, %d test users\n\n",
		rep.Protocol, rep.TestRatio, rep.Seed, rep.K, rep.Users, rep.Items, rep.TrainRatings, rep.TestRatings, rep.TestUsers)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "model\tP@%[1]d\tR@%[1]d\tnDCG@%[1]d\tMAP@%[1]d\tcoverage\tnovelty\ttrain\tparams\n", rep.K)
	for _, r := range rep.Results {
		fmt.Fprintf(tw, "%s\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.2f\t%s\t%s\n", r.Model, r.Precision, r.Recall, r.NDCG, r.MAP,
			r.Coverage, r.Novelty, r.TrainTime.Round(10*time.Millisecond), r.Params)
	}
	return tw.Flush()
}

func newRecommend(out io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "recommend",
		Short: "Recommendation tools",
	}
	cmd.AddCommand(newRecommendOffline(out))
	return cmd
}

func newRecommendOffline(out io.Writer) *cobra.Command {
	var (
		trainFile, usersFile, model, outFile string
		k                                    int
		seed                                 uint64
		quiet                                bool
		mf                                   modelFlags
	)
	cmd := &cobra.Command{
		Use:   "offline",
		Short: "Train a model on a ratings file and write top-k lists for given users as JSON lines",
		Long: `Train one model on a MovieLens-format ratings file (every rating counts as a positive)
and write, for each user of --users (one id per line), one JSON line
{"user":"<id>","items":["<id>",…]} with the user's top k items, items the user rated
excluded. Users without ratings get the most popular items. The lists can be scored by any
tool against a held-out file.`,
		Example: `  strata recommend offline --train train.csv --users users.txt --k 10 --model ease --out recs.jsonl`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := evaluation.Config{Seed: seed, K: k}
			if err := mf.apply(&cfg); err != nil {
				return err
			}
			ratings, err := readRatings(trainFile)
			if err != nil {
				return err
			}
			uf, err := os.Open(usersFile)
			if err != nil {
				return err
			}
			users, err := interactions.ReadUsers(uf)
			_ = uf.Close()
			if err != nil {
				return err
			}
			p := newStageProgress(!quiet && term.IsTerminal(int(os.Stderr.Fd())), os.Stderr)
			cfg.Progress = p.report
			lists, err := evaluation.Recommend(cmd.Context(), ratings, model, users, cfg)
			p.finish()
			if err != nil {
				return err
			}
			w := out
			if outFile != "" && outFile != "-" {
				f, err := os.Create(outFile)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			bw := bufio.NewWriter(w)
			enc := json.NewEncoder(bw)
			for i, u := range users {
				if err := enc.Encode(struct {
					User  string   `json:"user"`
					Items []string `json:"items"`
				}{u, lists[i]}); err != nil {
					return err
				}
			}
			if err := bw.Flush(); err != nil {
				return err
			}
			if w != out {
				return w.(*os.File).Close()
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&trainFile, "train", "", "training ratings CSV (MovieLens format)")
	f.StringVar(&usersFile, "users", "", "file of user ids, one per line")
	f.IntVar(&k, "k", 10, "length of each list")
	f.StringVar(&model, "model", evaluation.ModelEASE, "model: "+strings.Join(evaluation.ModelNames(), ", "))
	f.StringVar(&outFile, "out", "-", "output file of JSON lines (- for stdout)")
	f.Uint64Var(&seed, "seed", 42, "seed of the hybrid's validation split")
	f.BoolVar(&quiet, "quiet", false, "do not report progress on stderr")
	mf.register(cmd)
	_ = cmd.MarkFlagRequired("train")
	_ = cmd.MarkFlagRequired("users")
	return cmd
}

func readRatings(path string) ([]interactions.Rating, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return interactions.ReadRatingsCSV(bufio.NewReaderSize(f, 1<<20))
}

// stageProgress redraws one line on a terminal: the current stage, its share done and
// the time spent in it.
// It redraws every second too, so a long step without sub-steps (an EASE fit) still shows
// its time.
type stageProgress struct {
	mu          sync.Mutex
	w           io.Writer
	enabled     bool
	stage       string
	done, total int
	start       time.Time
	stop        chan struct{}
	stopped     sync.WaitGroup
}

func newStageProgress(enabled bool, w io.Writer) *stageProgress {
	p := &stageProgress{w: w, enabled: enabled, stop: make(chan struct{})}
	if enabled {
		p.stopped.Go(func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-p.stop:
					return
				case <-t.C:
					p.mu.Lock()
					p.draw()
					p.mu.Unlock()
				}
			}
		})
	}
	return p
}

func (p *stageProgress) report(stage string, done, total int) {
	if !p.enabled {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if stage != p.stage {
		p.stage, p.start = stage, time.Now()
	}
	p.done, p.total = done, total
	p.draw()
}

func (p *stageProgress) draw() {
	if p.stage == "" {
		return
	}
	bar := ""
	if p.total > 0 {
		const width = 30
		n := width * p.done / p.total
		bar = fmt.Sprintf(" [%s%s] %3d%%", strings.Repeat("=", n), strings.Repeat(" ", width-n), 100*p.done/p.total)
	}
	fmt.Fprintf(p.w, "\r\033[K%s%s %s", p.stage, bar, time.Since(p.start).Round(time.Second))
}

// finish stops the redraws and clears the line.
func (p *stageProgress) finish() {
	if !p.enabled {
		return
	}
	close(p.stop)
	p.stopped.Wait()
	fmt.Fprint(p.w, "\r\033[K")
}
