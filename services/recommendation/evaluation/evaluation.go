// Package evaluation runs the offline evaluation of the service's recommenders, the
// protocol of `strata eval recommend`: split the ratings (per-user stratified or
// temporal), train each model on the training part with every rating counting as a
// positive, rank every catalog item the user has not seen in training, and score the
// top k against the held-out items with precision, recall, nDCG, MAP, catalog coverage and
// novelty. It also trains a model on a file and writes top-k lists for given users
// (`strata recommend offline`), so that anyone can score them independently.
//
// Runs are deterministic for a given input, configuration and seed. Training and scoring
// use every CPU. Functions are safe for concurrent use; a Run holds the models it trains
// one at a time (EASE's memory is its item count squared, see package ease).
package evaluation

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stratahq/strata/services/recommendation/als"
	"github.com/stratahq/strata/services/recommendation/content"
	"github.com/stratahq/strata/services/recommendation/ease"
	"github.com/stratahq/strata/services/recommendation/hybrid"
	"github.com/stratahq/strata/services/recommendation/interactions"
	"github.com/stratahq/strata/services/recommendation/itemknn"
	"github.com/stratahq/strata/services/recommendation/metric"
	"github.com/stratahq/strata/services/recommendation/popularity"
	"github.com/stratahq/strata/services/recommendation/split"
	"github.com/stratahq/strata/services/recommendation/topk"
)

// Model names.
const (
	ModelPopularity = "pop"
	ModelItemKNN    = "itemknn"
	ModelEASE       = "ease"
	ModelALS        = "als"
	ModelHybrid     = "hybrid"
	// ModelContent is the content-based model (TF-IDF over the items' texts): it needs
	// Config.Items, so it is not among ModelNames' defaults.
	ModelContent = "content"
)

// knownModel reports whether Run knows the model: ModelNames and ModelContent.
func knownModel(name string) bool {
	return name == ModelContent || slices.Contains(ModelNames(), name)
}

// ModelNames lists the models Run evaluates by default, in table order; Run also knows
// ModelContent.
func ModelNames() []string {
	return []string{ModelPopularity, ModelItemKNN, ModelEASE, ModelALS, ModelHybrid}
}

// Errors.
var (
	ErrUnknownModel = errors.New("evaluation: unknown model")
	ErrBadK         = errors.New("evaluation: k must be positive")
	ErrNoRatings    = errors.New("evaluation: no ratings")
)

// Config configures an evaluation.
type Config struct {
	Protocol  split.Protocol
	TestRatio float64
	Seed      uint64
	K         int
	Models    []string
	// EASE configures the "ease" model (λ = 300 by default, as the reference).
	EASE ease.Config
	// Items are the texts of the items, for the "content" model (see ReadMovieLensItems).
	Items []content.Document
	// ALS configures the "als" model (implicit ALS, conjugate gradient).
	ALS als.Config
	// KNN configures the "itemknn" model (all neighbours by default, as the reference).
	KNN itemknn.Config
	// Hybrid configures the "hybrid" model; its Seed and K default to the run's.
	Hybrid hybrid.TuneConfig
	// Progress, when set, is told about long steps: stage names a step, done of total
	// units are finished (total 0 when unknown). It is called from one goroutine at a
	// time.
	Progress func(stage string, done, total int)
}

// DefaultConfig returns the protocol of the reference figures: per-user stratified
// 75/25, seed 42, top 10, every model.
func DefaultConfig() Config {
	return Config{Protocol: split.ProtocolStratified, TestRatio: 0.25, Seed: 42, K: 10, Models: ModelNames()}
}

// Result is one model's scores, each averaged over the test users.
type Result struct {
	Model     string        `json:"model"`
	Params    string        `json:"params,omitempty"`
	Precision float64       `json:"precision"`
	Recall    float64       `json:"recall"`
	NDCG      float64       `json:"ndcg"`
	MAP       float64       `json:"map"`
	Coverage  float64       `json:"coverage"`
	Novelty   float64       `json:"novelty"`
	TrainTime time.Duration `json:"train_time_ns"`
	EvalTime  time.Duration `json:"eval_time_ns"`
}

// Report is the outcome of a Run.
type Report struct {
	Protocol     split.Protocol `json:"protocol"`
	TestRatio    float64        `json:"test_ratio"`
	Seed         uint64         `json:"seed"`
	K            int            `json:"k"`
	Users        int            `json:"users"`
	Items        int            `json:"items"`
	TrainRatings int            `json:"train_ratings"`
	TestRatings  int            `json:"test_ratings"`
	TestUsers    int            `json:"test_users"`
	Results      []Result       `json:"results"`
}

// Run splits ratings, trains and scores every configured model.
func Run(ctx context.Context, ratings []interactions.Rating, cfg Config) (Report, error) {
	if len(ratings) == 0 {
		return Report{}, ErrNoRatings
	}
	if cfg.K <= 0 {
		return Report{}, ErrBadK
	}
	for _, name := range cfg.Models {
		if !knownModel(name) {
			return Report{}, fmt.Errorf("%w %q (know %s)", ErrUnknownModel, name, strings.Join(ModelNames(), ", "))
		}
	}
	s, err := split.Apply(cfg.Protocol, ratings, cfg.TestRatio, cfg.Seed)
	if err != nil {
		return Report{}, err
	}
	x := interactions.BinaryMatrix(s.Train)
	test := heldOut(x, s.Test)
	rep := Report{
		Protocol: cfg.Protocol, TestRatio: cfg.TestRatio, Seed: cfg.Seed, K: cfg.K,
		Users: x.NumUsers(), Items: x.NumItems(), TrainRatings: len(s.Train), TestRatings: len(s.Test),
		TestUsers: len(test),
	}
	for _, name := range cfg.Models {
		start := time.Now()
		scorer, params, err := train(ctx, name, x, s.Train, cfg)
		if err != nil {
			return Report{}, fmt.Errorf("evaluation: train %s: %w", name, err)
		}
		trained := time.Now()
		res, err := score(ctx, name, scorer, x, test, cfg)
		if err != nil {
			return Report{}, err
		}
		res.Params, res.TrainTime, res.EvalTime = params, trained.Sub(start), time.Since(trained)
		rep.Results = append(rep.Results, res)
	}
	return rep, nil
}

// testUser is one user with held-out items, relevant items indexed in x's item index;
// held-out items x does not know get distinct negative indices.
type testUser struct {
	user     int
	relevant metric.Set[int32]
}

func heldOut(x *interactions.Matrix, test []interactions.Rating) []testUser {
	byUser := map[int]metric.Set[int32]{}
	unknown := map[string]int32{}
	for _, r := range test {
		u, ok := x.Users().Index(r.User)
		if !ok {
			continue // a user without training history cannot be evaluated
		}
		i, ok := x.Items().Index(r.Item)
		if !ok {
			if i, ok = unknown[r.Item]; !ok {
				i = -int32(len(unknown)) - 1
				unknown[r.Item] = i
			}
		}
		if byUser[int(u)] == nil {
			byUser[int(u)] = metric.Set[int32]{}
		}
		byUser[int(u)][i] = struct{}{}
	}
	out := make([]testUser, 0, len(byUser))
	for u, rel := range byUser {
		out = append(out, testUser{user: u, relevant: rel})
	}
	slices.SortFunc(out, func(a, b testUser) int { return a.user - b.user })
	return out
}

// scorer is what every model provides.
type scorer = hybrid.Scorer

func progress(cfg Config, stage string) func(done, total int) {
	if cfg.Progress == nil {
		return func(int, int) {}
	}
	var mu sync.Mutex
	return func(done, total int) {
		mu.Lock()
		defer mu.Unlock()
		cfg.Progress(stage, done, total)
	}
}

func train(ctx context.Context, name string, x *interactions.Matrix, ratings []interactions.Rating, cfg Config) (scorer, string, error) {
	step := progress(cfg, "train "+name)
	step(0, 0)
	defer step(1, 1)
	switch name {
	case ModelPopularity:
		return hybrid.ByHistory(popularity.Fit(x)), "", nil
	case ModelItemKNN:
		m, err := itemknn.Fit(ctx, x, cfg.KNN)
		if err != nil {
			return nil, "", err
		}
		return hybrid.ByHistory(m), fmt.Sprintf("neighbours=%s shrink=%g", neighbours(cfg.KNN.Neighbours), cfg.KNN.Shrink), nil
	case ModelEASE:
		m, err := ease.Fit(ctx, x, cfg.EASE)
		if err != nil {
			return nil, "", err
		}
		return hybrid.ByHistory(m), "lambda=" + strconv.FormatFloat(lambda(cfg.EASE.Lambda), 'g', -1, 64), nil
	case ModelContent:
		m, err := fitContent(ctx, x, cfg.Items)
		if err != nil {
			return nil, "", err
		}
		return m, fmt.Sprintf("items_with_text=%d", m.m.Len()), nil
	case ModelALS:
		m, err := als.Fit(ctx, x, cfg.ALS)
		if err != nil {
			return nil, "", err
		}
		return m, alsParams(cfg.ALS), nil
	case ModelHybrid:
		hc := cfg.Hybrid
		if hc.Seed == 0 {
			hc.Seed = cfg.Seed + 1
		}
		if hc.K == 0 {
			hc.K = cfg.K
		}
		if hc.Progress == nil && cfg.Progress != nil {
			hc.Progress = func(stage string) { step(0, 0); cfg.Progress("hybrid: "+stage, 0, 0) }
		}
		m, res, err := hybrid.Tune(ctx, x, ratings, hc)
		if err != nil {
			return nil, "", err
		}
		return m, res.String(), nil
	}
	return nil, "", fmt.Errorf("%w %q", ErrUnknownModel, name)
}

func alsParams(c als.Config) string {
	d := als.DefaultConfig()
	pick := func(v, def float64) float64 {
		if v == 0 {
			return def
		}
		return v
	}
	return fmt.Sprintf("factors=%g iterations=%g lambda=%g alpha=%g cg_steps=%g",
		pick(float64(c.Factors), float64(d.Factors)), pick(float64(c.Iterations), float64(d.Iterations)),
		pick(c.Lambda, d.Lambda), pick(c.Alpha, d.Alpha), pick(float64(c.CGSteps), float64(d.CGSteps)))
}

func neighbours(n int) string {
	if n == 0 {
		return "all"
	}
	return strconv.Itoa(n)
}

func lambda(l float64) float64 {
	if l == 0 {
		return ease.DefaultLambda
	}
	return l
}

func score(ctx context.Context, name string, sc scorer, x *interactions.Matrix, test []testUser, cfg Config) (Result, error) {
	n, k := x.NumItems(), cfg.K
	type userScores struct{ p, r, ndcg, ap float64 }
	per := make([]userScores, len(test))
	lists := make([][]int32, len(test))
	step := progress(cfg, "score "+name)
	var done int
	var mu sync.Mutex
	err := parallel(ctx, len(test), n, func(i int, buf []float64) {
		tu := test[i]
		items, ws := x.Row(tu.user)
		sc.Score(tu.user, items, ws, buf)
		list := topk.Select(buf, k, seen(items))
		lists[i] = list
		per[i] = userScores{
			p:    metric.Precision(list, tu.relevant, k),
			r:    metric.Recall(list, tu.relevant, k),
			ndcg: metric.NDCG(list, tu.relevant, k),
			ap:   metric.AveragePrecision(list, tu.relevant, k),
		}
		mu.Lock()
		done++
		if done%50 == 0 || done == len(test) {
			step(done, len(test))
		}
		mu.Unlock()
	})
	if err != nil {
		return Result{}, fmt.Errorf("evaluation: score %s: %w", name, err)
	}
	res := Result{Model: name}
	for _, s := range per {
		res.Precision += s.p
		res.Recall += s.r
		res.NDCG += s.ndcg
		res.MAP += s.ap
	}
	if m := float64(len(per)); m > 0 {
		res.Precision, res.Recall, res.NDCG, res.MAP = res.Precision/m, res.Recall/m, res.NDCG/m, res.MAP/m
	}
	counts := x.ItemCounts()
	res.Coverage = metric.Coverage(lists, k, n)
	res.Novelty = metric.Novelty(lists, k, func(i int32) int { return int(counts[i]) }, x.NumUsers())
	return res, nil
}

// seen returns a skip function for the items of a sorted history.
func seen(sortedItems []int32) func(int32) bool {
	return func(j int32) bool {
		_, ok := slices.BinarySearch(sortedItems, j)
		return ok
	}
}

// parallel calls f(i, buf) for i in [0, n) on all CPUs, each worker with its own buffer
// of bufLen floats.
func parallel(ctx context.Context, n, bufLen int, f func(i int, buf []float64)) error {
	workers := min(runtime.GOMAXPROCS(0), max(n, 1))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			buf := make([]float64, bufLen)
			for i := w; i < n; i += workers {
				if ctx.Err() != nil {
					return
				}
				f(i, buf)
			}
		})
	}
	wg.Wait()
	return ctx.Err()
}
