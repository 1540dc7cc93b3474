package hybrid

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/stratahq/strata/services/recommendation/als"
	"github.com/stratahq/strata/services/recommendation/ease"
	"github.com/stratahq/strata/services/recommendation/interactions"
	"github.com/stratahq/strata/services/recommendation/itemknn"
	"github.com/stratahq/strata/services/recommendation/metric"
	"github.com/stratahq/strata/services/recommendation/popularity"
	"github.com/stratahq/strata/services/recommendation/split"
)

// Component names of the tuned blend, in weight order.
var componentNames = []string{"ease", "user_ease", "itemknn", "pop"}

// TuneConfig configures Tune.
type TuneConfig struct {
	// Lambdas is the grid of item-based EASE regularisations tried on the validation
	// split; empty means DefaultLambdas.
	Lambdas []float64
	// UserLambdas is the grid of user-based EASE regularisations; empty means
	// DefaultUserLambdas.
	UserLambdas []float64
	// MaxUsers is the most users the user-based EASE takes (its cost grows with their
	// cube); above it the component is left out. 0 means 20,000.
	MaxUsers int
	// KNN configures the item-kNN component; zero Neighbours means 100.
	KNN itemknn.Config
	// ValidationUsers is the share of users with ratings held out for validation, and
	// ValidationRatio the share of each of those users' training ratings held out; 0
	// means 1 and 0.1 (see Tune).
	ValidationUsers, ValidationRatio float64
	// Seed seeds the validation split.
	Seed uint64
	// K is the cut-off of the nDCG maximised on validation; 0 means 10.
	K int
	// Step is the grid step of the blend weights; 0 means 0.1.
	Step float64
	// ALS configures the implicit-ALS component, tried on top of the blend: it joins
	// with the weight of ALSWeights that maximises the validation nDCG@k, if any beats
	// the blend without it. Empty ALSWeights means DefaultALSWeights; SkipALS leaves
	// it out.
	ALS        als.Config
	ALSWeights []float64
	SkipALS    bool
	// Progress, when set, is told each stage as it starts.
	Progress func(stage string)
}

// ErrNoValidation is returned by Tune when the validation split holds no rating: users
// have too few ratings for the validation ratio.
var ErrNoValidation = errors.New("hybrid: the validation split is empty; raise the validation shares")

// Default grids of Tune.
var (
	DefaultLambdas     = []float64{150, 300}
	DefaultUserLambdas = []float64{100, 300, 1000}
	DefaultALSWeights  = []float64{0.1, 0.2, 0.3, 0.4}
)

// TuneResult reports what Tune chose.
type TuneResult struct {
	// Lambda and UserLambda are the regularisations of the item-based and user-based
	// EASE, the winners on the validation split; UserLambda is 0 when the user-based
	// model was left out.
	Lambda, UserLambda float64
	// LambdaNDCG and UserLambdaNDCG map every λ tried to the validation nDCG@k of the
	// model alone.
	LambdaNDCG, UserLambdaNDCG map[float64]float64
	// Weights are the blend weights of ease, user_ease, itemknn and pop.
	Weights []float64
	// ValidationNDCG is the blend's validation nDCG@k, ALS included when it joined.
	ValidationNDCG float64
	// ALSWeight is the weight of the ALS component in the final blend (the others are
	// Weights scaled by 1 − ALSWeight); 0 when ALS did not help on validation.
	// ALSNDCG maps every ALS weight tried to the validation nDCG@k of the blend with it.
	ALSWeight float64
	ALSNDCG   map[float64]float64
}

// String summarises r on one line.
func (r TuneResult) String() string {
	var b strings.Builder
	grid := func(name string, chosen float64, m map[float64]float64) {
		fmt.Fprintf(&b, "%s=%s (val", name, strconv.FormatFloat(chosen, 'f', -1, 64))
		for _, l := range slices.Sorted(maps.Keys(m)) {
			fmt.Fprintf(&b, " %g:%.4f", l, m[l])
		}
		b.WriteString(") ")
	}
	grid("lambda", r.Lambda, r.LambdaNDCG)
	if r.UserLambda > 0 {
		grid("user_lambda", r.UserLambda, r.UserLambdaNDCG)
	}
	for i, w := range r.Weights {
		fmt.Fprintf(&b, "w_%s=%.1f ", componentNames[i], w)
	}
	if len(r.ALSNDCG) > 0 {
		fmt.Fprintf(&b, "w_als=%g (val", r.ALSWeight)
		for _, w := range slices.Sorted(maps.Keys(r.ALSNDCG)) {
			fmt.Fprintf(&b, " %g:%.4f", w, r.ALSNDCG[w])
		}
		b.WriteString(") ")
	}
	fmt.Fprintf(&b, "val_ndcg=%.4f", r.ValidationNDCG)
	return b.String()
}

func (c TuneConfig) withDefaults() TuneConfig {
	if len(c.Lambdas) == 0 {
		c.Lambdas = DefaultLambdas
	}
	if len(c.UserLambdas) == 0 {
		c.UserLambdas = DefaultUserLambdas
	}
	if c.MaxUsers == 0 {
		c.MaxUsers = 20000
	}
	if c.KNN.Neighbours == 0 {
		c.KNN.Neighbours = 100
	}
	if c.ValidationUsers == 0 {
		c.ValidationUsers = 1
	}
	if c.ValidationRatio == 0 {
		c.ValidationRatio = 0.1
	}
	if c.K == 0 {
		c.K = 10
	}
	if len(c.ALSWeights) == 0 {
		c.ALSWeights = DefaultALSWeights
	}
	if c.Progress == nil {
		c.Progress = func(string) {}
	}
	return c
}

// Tune learns the hybrid for x, the binary matrix of the training ratings train: it holds
// out a validation split of train, picks the λ of item-based EASE and of user-based EASE
// from their grids, each by its own validation nDCG@k, learns the blend weights of those
// two, item-kNN and popularity by the blend's validation nDCG@k, and refits the
// components on x. It costs len(Lambdas)+1 item-based EASE fits (the expensive part) and
// len(UserLambdas)+1 user-based ones.
//
// The validation split is small by default (10 % of each user's training ratings): the
// models fitted for validation then see 90 % of the training data, close to what the
// final models see. Larger validation splits shrink the fit data and bias the choice
// towards heavier regularisation and more popularity than suits the full training set
// (with 25 % held out, the validation optimum of λ on MovieLens was 300 while the test
// optimum was 150–200).
func Tune(ctx context.Context, x *interactions.Matrix, train []interactions.Rating, cfg TuneConfig) (*Model, TuneResult, error) {
	cfg = cfg.withDefaults()
	s, err := split.StratifiedUsers(train, cfg.ValidationUsers, cfg.ValidationRatio, cfg.Seed)
	if err != nil {
		return nil, TuneResult{}, fmt.Errorf("hybrid: validation split: %w", err)
	}
	// The fit matrix shares x's indices, so its models score x's users and items.
	b := interactions.NewBuilderWith(x.Users().Clone(), x.Items().Clone())
	b.Combine = func(_, _ float64) float64 { return 1 }
	for _, r := range s.Train {
		b.Add(r.User, r.Item, 1)
	}
	fit := b.Build()
	val := examples(fit, s.Test)
	if len(val) == 0 {
		return nil, TuneResult{}, ErrNoValidation
	}
	res, err := validate(ctx, fit, val, cfg)
	if err != nil {
		return nil, TuneResult{}, err
	}

	n := x.NumItems()
	scorers := make([]Scorer, len(componentNames))
	if res.Weights[0] > 0 {
		cfg.Progress(fmt.Sprintf("fit ease lambda=%g", res.Lambda))
		m, err := ease.Fit(ctx, x, ease.Config{Lambda: res.Lambda})
		if err != nil {
			return nil, TuneResult{}, err
		}
		scorers[0] = ByHistory(m)
	}
	if res.Weights[1] > 0 {
		cfg.Progress(fmt.Sprintf("fit user ease lambda=%g", res.UserLambda))
		m, err := ease.FitUsers(ctx, x, ease.Config{Lambda: res.UserLambda}, cfg.MaxUsers)
		if err != nil {
			return nil, TuneResult{}, err
		}
		scorers[1] = ByUser(m)
	}
	if res.Weights[2] > 0 {
		m, err := itemknn.Fit(ctx, x, cfg.KNN)
		if err != nil {
			return nil, TuneResult{}, err
		}
		scorers[2] = ByHistory(m)
	}
	scorers[3] = ByHistory(popularity.Fit(x))
	for i := range scorers {
		if scorers[i] == nil { // weight 0: never called
			scorers[i] = scorers[3]
		}
	}
	weights := slices.Clone(res.Weights)
	if res.ALSWeight > 0 {
		cfg.Progress("fit als")
		m, err := als.Fit(ctx, x, cfg.ALS)
		if err != nil {
			return nil, TuneResult{}, err
		}
		weights = withExtra(weights, res.ALSWeight)
		scorers = append(scorers, m)
	}
	m, err := New(n, scorers, weights)
	return m, res, err
}

// withExtra returns weights scaled by 1 − w, followed by w.
func withExtra(weights []float64, w float64) []float64 {
	out := make([]float64, 0, len(weights)+1)
	for _, v := range weights {
		out = append(out, (1-w)*v)
	}
	return append(out, w)
}

// validate picks the λs and the blend weights on the validation examples; the
// validation models are garbage once it returns.
func validate(ctx context.Context, fit *interactions.Matrix, val []Example, cfg TuneConfig) (TuneResult, error) {
	n := fit.NumItems()
	res := TuneResult{LambdaNDCG: map[float64]float64{}, UserLambdaNDCG: map[float64]float64{}}
	pick := func(name string, grid []float64, ndcg map[float64]float64, fitOne func(l float64) (Scorer, error)) (Scorer, float64, error) {
		var best Scorer
		bestL, bestV := 0.0, -1.0
		for _, l := range grid {
			cfg.Progress(fmt.Sprintf("validate %s lambda=%g", name, l))
			m, err := fitOne(l)
			if err != nil {
				return nil, 0, err
			}
			v, err := NDCG(ctx, n, m, val, cfg.K)
			if err != nil {
				return nil, 0, err
			}
			ndcg[l] = v
			if v > bestV {
				best, bestL, bestV = m, l, v
			}
		}
		return best, bestL, nil
	}
	itemEASE, l, err := pick("ease", cfg.Lambdas, res.LambdaNDCG, func(l float64) (Scorer, error) {
		m, err := ease.Fit(ctx, fit, ease.Config{Lambda: l})
		return ByHistory(m), err
	})
	if err != nil {
		return TuneResult{}, err
	}
	res.Lambda = l
	var userEASE Scorer
	if fit.NumUsers() <= cfg.MaxUsers {
		userEASE, l, err = pick("user ease", cfg.UserLambdas, res.UserLambdaNDCG, func(l float64) (Scorer, error) {
			m, err := ease.FitUsers(ctx, fit, ease.Config{Lambda: l}, cfg.MaxUsers)
			return ByUser(m), err
		})
		if err != nil {
			return TuneResult{}, err
		}
		res.UserLambda = l
	}
	cfg.Progress("validate blend")
	knn, err := itemknn.Fit(ctx, fit, cfg.KNN)
	if err != nil {
		return TuneResult{}, err
	}
	comps := []Scorer{itemEASE, userEASE, ByHistory(knn), ByHistory(popularity.Fit(fit))}
	if userEASE == nil {
		// Left out: a zero scorer, which the blend search gives no useful weight.
		comps[1] = ByHistory(popularity.New(make([]float64, n)))
	}
	res.Weights, res.ValidationNDCG, err = LearnWeights(ctx, n, comps, val, cfg.K, cfg.Step)
	if err != nil {
		return TuneResult{}, err
	}
	if userEASE == nil && res.Weights[1] > 0 {
		// A zero component adds nothing: give its weight to the item model.
		res.Weights[0] += res.Weights[1]
		res.Weights[1] = 0
	}
	if cfg.SkipALS {
		return res, nil
	}
	cfg.Progress("validate als")
	alsModel, err := als.Fit(ctx, fit, cfg.ALS)
	if err != nil {
		return TuneResult{}, err
	}
	res.ALSNDCG = map[float64]float64{}
	for _, w := range cfg.ALSWeights {
		blend, err := New(n, append(slices.Clone(comps), alsModel), withExtra(res.Weights, w))
		if err != nil {
			return TuneResult{}, err
		}
		v, err := NDCG(ctx, n, blend, val, cfg.K)
		if err != nil {
			return TuneResult{}, err
		}
		res.ALSNDCG[w] = v
		if v > res.ValidationNDCG {
			res.ALSWeight, res.ValidationNDCG = w, v
		}
	}
	return res, nil
}

// examples turns held-out ratings into validation examples over fit's indices.
func examples(fit *interactions.Matrix, held []interactions.Rating) []Example {
	byUser := map[int32]metric.Set[int32]{}
	unknown := map[string]int32{}
	for _, r := range held {
		u, ok := fit.Users().Index(r.User)
		if !ok {
			continue
		}
		i, ok := fit.Items().Index(r.Item)
		if !ok {
			if i, ok = unknown[r.Item]; !ok {
				i = -int32(len(unknown)) - 1
				unknown[r.Item] = i
			}
		}
		if byUser[u] == nil {
			byUser[u] = metric.Set[int32]{}
		}
		byUser[u][i] = struct{}{}
	}
	users := make([]int32, 0, len(byUser))
	for u := range byUser {
		users = append(users, u)
	}
	slices.Sort(users)
	out := make([]Example, 0, len(users))
	for _, u := range users {
		items, ws := fit.Row(int(u))
		out = append(out, Example{User: int(u), Items: items, Weights: ws, Relevant: byUser[u]})
	}
	return out
}
